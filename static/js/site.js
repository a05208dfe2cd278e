// Behaviour every page shares, wired from data attributes (the Content Security Policy allows no inline handler).
(function () {
  // <select data-submit-on-change>: choosing an option submits its form (the language switch).
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-submit-on-change]")) event.target.form.requestSubmit();
  });
  // <input type=range data-shows-value> followed by <output>: the output shows the value while sliding.
  document.addEventListener("input", (event) => {
    if (event.target.matches("input[data-shows-value]")) event.target.nextElementSibling.value = event.target.value;
  });
})();
