"""Shop: the lab's second app (orders + storefront), built unlike the demo on purpose (see ../README.md)."""
