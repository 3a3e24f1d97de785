// Clientside functions for tests/e2e/apps/browser_app.py.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  checks: {
    double: function (n) {
      return "doubled " + 2 * (n || 0);
    },
  },
});

// dash_clientside.set_props from an event listener.
document.addEventListener("keydown", function (event) {
  if (event.target && event.target.id === "cs-in") return;
  window.dash_clientside.set_props("cs-key", { children: "key " + event.key });
});
