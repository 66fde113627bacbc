"""Drill switch: every good release ships `FAULT = None` (lab/shop_releases.py changes only this line).

- "broken_orders": POST /orders answers 500 (health stays fine: only the smoke script notices).
- "errors": after the first ERRORS_AFTER requests to /orders, every second one answers 500 (health stays fine:
  only the metrics of real traffic show it).
"""

FAULT = None

ERRORS_AFTER = 20
