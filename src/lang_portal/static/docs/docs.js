// Starts Swagger UI on the /api/docs page. It is a served file rather than an inline
// script so that the page's Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    // The public validator badge would call out to the internet; the document is
    // validated by the test suite instead.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayRequestDuration: true,
    filter: true
  });
})();
