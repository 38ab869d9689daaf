// Flock's only script (the Content-Security-Policy allows no inline script or handler):
// behaviour is declared with data- attributes on the elements themselves.
//   <input type="checkbox" data-select-all="member_ids">  ticks/unticks every box named member_ids in its form
//   <form data-confirm="Remove Ann from the choir?">      asks before submitting
"use strict";
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all || !all.form) return;
  for (const box of all.form.querySelectorAll(`input[name="${CSS.escape(all.dataset.selectAll)}"]`)) {
    box.checked = all.checked;
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
