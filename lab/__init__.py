"""The ghostlab: real hosts on loopback (lab/labctl), its Invoke tasks (lab/tasks.py) and the demo app."""
