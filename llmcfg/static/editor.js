// The config editor's small enhancements; the page works without them (every part is then shown).
//
// 1. An element with data-show-when="NAME=VALUE" (or NAME!=VALUE, or just NAME for a checkbox) is
//    shown only while the form field NAME matches, e.g. the new-key inputs only for "Add a new key…".
// 2. The credential choices list only the keys of the chosen provider (options carry data-provider).
// 3. Enter in the model filter filters instead of submitting the form.
// 4. The catalog's "Refresh list" button goes through the editor's own catalog endpoint: the
//    catalog API it names reads a key from `api_key`, while the editor's key fields are named
//    after their part of the form (new key, replacement key).
// 5. The chain preview learns whether the picked model carries the catalog's "free" badge, so it
//    can warn about a free primary without a fallback even when the id has no ":free" suffix.
(function () {
  "use strict";

  function fieldValue(form, name) {
    var field = form.elements[name];
    if (!field) return "";
    if (field.type === "checkbox") return field.checked ? "on" : "";
    return field.value;
  }

  function matches(form, rule) {
    var negate = rule.indexOf("!=") !== -1;
    var parts = rule.split(negate ? "!=" : "=");
    var value = fieldValue(form, parts[0].trim());
    if (parts.length === 1) return value !== "";
    return negate ? value !== parts[1] : value === parts[1];
  }

  var shownFor = {};  // the provider each credential list was last filtered for

  function filterCredentials(form, selectName, providerName) {
    var select = form.elements[selectName];
    var provider = fieldValue(form, providerName);
    if (!select) return;
    Array.prototype.forEach.call(select.options, function (option) {
      var owner = option.getAttribute("data-provider");
      option.hidden = option.disabled = Boolean(owner) && owner !== provider;
    });
    var switched = selectName in shownFor && shownFor[selectName] !== provider;
    shownFor[selectName] = provider;
    if (switched || (select.selectedOptions.length && select.selectedOptions[0].disabled)) {
      // A new provider: its first saved key, else "Add a new key…" (listed last).
      var first = Array.prototype.find.call(select.options, function (o) { return !o.disabled; });
      select.value = first ? first.value : "new";
    }
  }

  function refresh(form) {
    filterCredentials(form, "credential", "provider");
    filterCredentials(form, "new_fallback-credential", "new_fallback-provider");
    form.querySelectorAll("[data-show-when]").forEach(function (el) {
      el.hidden = !matches(form, el.getAttribute("data-show-when"));
    });
  }

  function routeRefresh(form, event) {
    var detail = event.detail;
    if (!detail.elt.classList.contains("refresh-catalog") || !form.contains(detail.elt)) return;
    var values = new FormData(form);
    values.set("refresh", "1");
    detail.verb = "post";
    detail.useUrlParams = false;
    detail.headers["Content-Type"] = "application/x-www-form-urlencoded";  // htmx sets it only for a POST
    detail.path = form.getAttribute("data-models-url");
    detail.parameters = values;
  }

  function markFree(form, event) {
    var detail = event.detail;
    if (detail.elt.id !== "chain-preview" || fieldValue(form, "model_other")) return;
    var picked = form.querySelector('input[name="model"]:checked');
    var row = picked && picked.closest("label");
    if (row && row.querySelector(".badge.free")) detail.parameters["model_free"] = "1";
  }

  function init() {
    var form = document.getElementById("config-form");
    if (!form) return;
    document.body.addEventListener("htmx:configRequest", function (event) {
      routeRefresh(form, event);
      markFree(form, event);
    });
    refresh(form);
    // Capture phase: the choices are fixed before htmx sends the form for the new provider.
    form.addEventListener("change", function () { refresh(form); }, true);
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.name === "q") event.preventDefault();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
