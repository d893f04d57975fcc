"""REST route tables, one module per area. Handlers parse, call the domain, return a model."""
