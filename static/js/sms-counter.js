// The compose page's live character and segment count (the same rules as messaging/gsm.py).
// A static file with no inline handler, so the Content-Security-Policy needs no 'unsafe-inline'.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";

  function measure(text) {
    var gsm = true, septets = 0, i, ch;
    for (i = 0; i < text.length; i++) {
      ch = text.charAt(i);
      if (BASIC.indexOf(ch) >= 0) { septets += 1; }
      else if (EXTENDED.indexOf(ch) >= 0) { septets += 2; }
      else { gsm = false; break; }
    }
    var units = gsm ? septets : text.length;  // String.length counts UTF-16 code units
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return { encoding: gsm ? "GSM-7" : "UCS-2", units: units, segments: segments, single: single, multi: multi };
  }

  function update(area, output) {
    // The server strips the text before counting; so does the counter.
    var m = measure(area.value.replace(/^\s+|\s+$/g, ""));
    var limit = m.segments <= 1 ? m.single : m.segments * m.multi;
    output.textContent = m.units + " character" + (m.units === 1 ? "" : "s") + ", " + m.segments +
      " segment" + (m.segments === 1 ? "" : "s") + " (" + m.encoding + "; " + (limit - m.units) +
      " left in this segment" + (m.segments > 1 ? "s" : "") + ")";
    output.setAttribute("data-segments", String(m.segments));
    output.setAttribute("data-encoding", m.encoding);
  }

  document.querySelectorAll("textarea[data-sms-counter]").forEach(function (area) {
    var output = document.getElementById(area.getAttribute("data-sms-counter"));
    if (!output) { return; }
    area.addEventListener("input", function () { update(area, output); });
    update(area, output);
  });
})();
