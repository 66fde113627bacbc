"""Talking to what watches the deploys: Alertmanager, the Pushgateway's deploy markers, webhooks, squawk.

May import execution and everything below it.
"""
