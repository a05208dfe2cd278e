// Behaviour every page shares, wired from data attributes (the Content Security Policy allows no inline handler).
(function () {
  // <select data-submit-on-change>: choosing an option submits its form (the language switch).
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-submit-on-change]")) event.target.form.requestSubmit();
  });
  // hx-trigger="every 2s" data-poll-visible: polling pauses while the tab is hidden. (htmx's own filter,
  // every 2s [document.visibilityState === 'visible'], is evaluated with Function(), which the CSP forbids.)
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.target.matches("[data-poll-visible]") && document.visibilityState !== "visible") event.preventDefault();
  });
  // <input type=range data-shows-value> followed by <output>: the output shows the value while sliding.
  document.addEventListener("input", (event) => {
    if (event.target.matches("input[data-shows-value]")) event.target.nextElementSibling.value = event.target.value;
  });
})();
