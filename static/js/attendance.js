// Attendance that cannot lose work (templates/attendance/record.html, list.html).
//
// The checklist shows one page of people at a time. Every tick or untick is kept in this tab's
// sessionStorage under the session's key (church, date, service or group), as "changed from
// what the page showed", so moving to another page or search keeps it: the boxes come back
// ticked, and a note says how many ticks elsewhere are not saved yet. "Save attendance" sends
// them all at once (present_ids / absent_ids, one field each), with a token; the server echoes
// the token back (?saved=) only when the save succeeded, and only then are the kept ticks
// forgotten. Leaving the session with unsaved ticks asks first. Without this script the
// checklist still works page by page (each page's form posts its own boxes).
"use strict";
(() => {
  // The start form: choosing the service or a group puts its most recent meeting day in the date.
  const start = document.querySelector("[data-session-start]");
  if (start) {
    const select = start.querySelector("[data-session-group]");
    const date = start.querySelector("input[name=date]");
    let typed = false;
    if (date) date.addEventListener("input", () => { typed = true; });
    if (select && date) {
      select.addEventListener("change", () => {
        const option = select.selectedOptions[0];
        if (!typed && option && option.dataset.date) date.value = option.dataset.date;
      });
    }
  }

  const section = document.querySelector("[data-checklist]");
  if (!section) return;
  const key = `flock.attendance:${section.dataset.checklist}`;
  const form = section.querySelector("form[data-attendance-form]");
  const note = section.querySelector("[data-pending]");
  const boxes = form ? [...form.querySelectorAll("input[type=checkbox][name=present]")] : [];

  const load = () => {
    try { return JSON.parse(sessionStorage.getItem(key) || "{}"); } catch { return {}; }
  };
  const store = (changes) => {
    if (Object.keys(changes).length) sessionStorage.setItem(key, JSON.stringify(changes));
    else sessionStorage.removeItem(key);
  };

  // A save that succeeded: forget exactly the ticks it carried, and tidy the address.
  const url = new URL(window.location.href);
  const saved = url.searchParams.get("saved");
  if (saved) {
    if (sessionStorage.getItem(`${key}:token`) === saved) {
      sessionStorage.removeItem(key);
      sessionStorage.removeItem(`${key}:token`);
    }
    url.searchParams.delete("saved");
    history.replaceState(null, "", url);
  }

  let changes = load();
  for (const box of boxes) {
    const initial = box.dataset.initial === "1";
    if (box.value in changes) {
      if (changes[box.value] === initial) delete changes[box.value]; // saved meanwhile, by anyone
      else box.checked = changes[box.value];
    }
    box.closest("label").classList.toggle("changed", box.value in changes);
  }
  store(changes);

  const onPage = new Set(boxes.map((box) => box.value));
  const show = () => {
    if (!note) return;
    const all = Object.keys(changes).length;
    const elsewhere = Object.keys(changes).filter((id) => !onPage.has(id)).length;
    note.hidden = all === 0;
    note.textContent = all === 0 ? "" :
      `${all} unsaved tick${all === 1 ? "" : "s"}` +
      (elsewhere ? ` (${elsewhere} on other pages or searches)` : "") +
      ": “Save attendance” records them all.";
  };
  show();
  for (const element of section.querySelectorAll("[data-nojs-note]")) element.hidden = true;
  for (const element of section.querySelectorAll("[data-js-note]")) element.hidden = false;

  for (const box of boxes) {
    box.addEventListener("change", () => {
      changes = load();
      if (box.checked === (box.dataset.initial === "1")) delete changes[box.value];
      else changes[box.value] = box.checked;
      box.closest("label").classList.toggle("changed", box.value in changes);
      store(changes);
      show();
    });
  }

  let leaving = false;
  if (form) {
    form.addEventListener("submit", () => {
      changes = load();
      const ids = (wanted) => Object.keys(changes).filter((id) => changes[id] === wanted).join(",");
      form.querySelector("[data-present-ids]").value = ids(true);
      form.querySelector("[data-absent-ids]").value = ids(false);
      const token = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
      form.querySelector("[data-save-token]").value = token;
      sessionStorage.setItem(`${key}:token`, token);
      leaving = true;
    });
  }
  // Moving inside the session (pages, searches, the visitor and head-count forms) keeps the ticks.
  document.addEventListener("click", (event) => {
    if (event.target.closest("a[data-keeps-ticks]")) leaving = true;
  });
  document.addEventListener("submit", (event) => {
    if (event.target.closest("form[data-keeps-ticks]")) leaving = true;
  });
  window.addEventListener("pageshow", () => { leaving = false; });
  window.addEventListener("beforeunload", (event) => {
    if (leaving || !Object.keys(load()).length) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
