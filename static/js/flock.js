// Flock's only script for every page (the Content-Security-Policy allows no inline script or
// handler): behaviour is declared with data- attributes on the elements themselves.
//   <input type="checkbox" data-select-all="member_ids">  ticks/unticks every box named member_ids in its form
//   <form data-confirm="Remove Ann from the choir?">      asks before submitting
//   <button data-nav-toggle aria-controls="mainnav">      on a phone, opens and closes the navigation
//   <form data-autosubmit>                                submits when one of its selects changes
"use strict";
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (all && all.form) {
    for (const box of all.form.querySelectorAll(`input[name="${CSS.escape(all.dataset.selectAll)}"]`)) {
      box.checked = all.checked;
    }
  }
  const auto = event.target.closest("form[data-autosubmit]");
  if (auto && event.target.matches("select")) auto.requestSubmit();
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
// The navigation collapses on narrow screens only once this script runs: without it, it stays open.
const topbar = document.querySelector(".topbar");
const toggle = document.querySelector("[data-nav-toggle]");
if (topbar && toggle) {
  topbar.classList.add("js-nav");
  toggle.addEventListener("click", () => {
    const open = topbar.classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}
