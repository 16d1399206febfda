"""mlmon's Prometheus rules as a monitoring mixin: rule groups built from a `_config` of selectors and links."""
