// Start-up of the AsyncAPI viewer (/api/v1/ws/asyncapi). An external file, not an inline
// script: the Content-Security-Policy allows only this server's own scripts.
AsyncApiStandalone.render(
  {
    schema: { url: "asyncapi.json", options: { method: "GET", mode: "same-origin" } },
    config: { show: { sidebar: true, errors: true } },
  },
  document.getElementById("asyncapi"),
);
