/* gallery atlas: a lightbox for linked images and the filter box of layer pages.
 *
 * Optional by design: without JavaScript every image links to its filter page or its PNG, and
 * every grid shows all of its images. No dependencies and no modules, so it runs from file://.
 */
"use strict";

(() => {
  let dialog = null;
  let links = [];
  let index = 0;

  /* The images the lightbox steps through: those on the page that the filter box left visible. */
  const visibleLinks = () => Array.from(document.querySelectorAll("a[data-full]")).filter((a) => !a.closest("[hidden]"));

  function lightbox() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "lightbox";
    dialog.setAttribute("aria-label", "image viewer");
    dialog.innerHTML =
      '<figure><img alt=""><figcaption><span class="caption"></span> <a class="page">details</a>' +
      '<span class="count"></span></figcaption></figure>' +
      '<button type="button" class="prev" aria-label="previous image">&lsaquo;</button>' +
      '<button type="button" class="next" aria-label="next image">&rsaquo;</button>' +
      '<button type="button" class="close" aria-label="close" autofocus>&times;</button>';
    dialog.querySelector(".prev").addEventListener("click", () => show(index - 1));
    dialog.querySelector(".next").addEventListener("click", () => show(index + 1));
    dialog.querySelector(".close").addEventListener("click", () => dialog.close());
    // A click on the dark surround (not the image, the caption or a button) closes, as Escape does.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog || event.target.tagName === "FIGURE") dialog.close();
    });
    document.body.append(dialog);
    return dialog;
  }

  function show(position) {
    index = (position + links.length) % links.length;
    const link = links[index];
    const image = dialog.querySelector("img");
    image.src = link.dataset.full;
    image.alt = link.querySelector("img").alt;
    dialog.querySelector(".caption").textContent = link.dataset.caption;
    const page = dialog.querySelector(".page");
    page.hidden = !link.dataset.page;
    page.href = link.dataset.page || "";
    dialog.querySelector(".count").textContent = `${index + 1} / ${links.length}`;
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-full]");
    // Modified clicks keep their usual meaning (a new tab for the filter page or the PNG).
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    links = visibleLinks();
    lightbox();
    show(links.indexOf(link));
    if (!dialog.open) dialog.showModal();
  });

  document.addEventListener("keydown", (event) => {
    if (!dialog || !dialog.open) return;
    if (event.key === "ArrowRight") show(index + 1);
    else if (event.key === "ArrowLeft") show(index - 1);
    else return;
    event.preventDefault();
  });

  /* "3, 7 10-20 cat": an image matches one of the numbers or ranges (if any) and every word. */
  function matcher(query) {
    const tokens = query.toLowerCase().split(/[\s,]+/).filter(Boolean);
    const numbers = [];
    const words = [];
    for (const token of tokens) {
      const range = token.match(/^(\d+)(?:-(\d+))?$/);
      if (range) numbers.push([Number(range[1]), Number(range[2] ?? range[1])]);
      else words.push(token);
    }
    return (item) => {
      const filter = Number(item.dataset.filter);
      const caption = item.dataset.caption.toLowerCase();
      return (numbers.length === 0 || numbers.some(([low, high]) => filter >= low && filter <= high)) &&
        words.every((word) => caption.includes(word));
    };
  }

  function setUpFilter(form) {
    const sections = Array.from(document.querySelectorAll("section[data-setting]"));
    const total = document.querySelectorAll(".grid li").length;
    const { q, setting, flagged } = form.elements;
    function apply() {
      const matches = matcher(q.value);
      let shown = 0;
      for (const section of sections) {
        const inSetting = !setting || !setting.value || section.dataset.setting === setting.value;
        let any = false;
        for (const item of section.querySelectorAll(".grid li")) {
          const show = inSetting && (!flagged || !flagged.checked || Boolean(item.dataset.flags)) && matches(item);
          item.hidden = !show;
          any = any || show;
          shown += show ? 1 : 0;
        }
        section.hidden = !any;
      }
      form.querySelector("output").value = `${shown} of ${total} images`;
    }
    form.addEventListener("input", apply);
    form.addEventListener("submit", (event) => event.preventDefault());
    form.hidden = false;
    apply(); // a reloaded page keeps the form's values
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("form.filter");
    if (form) setUpFilter(form);
  });
})();
