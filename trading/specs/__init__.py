"""OpenAPI and AsyncAPI documents built from the code, and the offline doc UIs serving them."""
