// Start-up of ReDoc (/api/v1/redoc): an external file, as the Content-Security-Policy asks.
Redoc.init("openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
