"""A route's filters: typed steps the proxy runs in order, each in one phase.

Each group of filters has its own module; the proxy has a runner for each
filter type (`ingress.proxy.filters`). The model only says what to do.
"""
