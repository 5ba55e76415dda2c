/* gallery atlas: a lightbox for linked images and the filter box of layer pages.
 *
 * Optional by design: without JavaScript every image links to its filter page or its PNG, and
 * every grid shows all of its images. No dependencies and no modules, so it runs from file://.
 */
"use strict";

(() => {
  let dialog = null;
  let viewer = null; // what the lightbox steps through: {count, render(position)}
  let index = 0;

  /* The images the lightbox steps through: those on the page that the filter box left visible. */
  const visibleLinks = () => Array.from(document.querySelectorAll("a[data-full]")).filter((a) => !a.closest("[hidden]"));

  function lightbox() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "lightbox";
    dialog.setAttribute("aria-label", "image viewer");
    dialog.innerHTML =
      '<figure><img alt=""><div class="crop" role="img" hidden></div><figcaption><span class="caption"></span> ' +
      '<a class="page">details</a><span class="count"></span></figcaption></figure>' +
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

  function open(nextViewer, position) {
    viewer = nextViewer;
    lightbox();
    show(position);
    if (!dialog.open) dialog.showModal();
  }

  function show(position) {
    index = (position + viewer.count) % viewer.count;
    viewer.render(index);
    dialog.querySelector(".count").textContent = `${index + 1} / ${viewer.count}`;
  }

  /* Linked images: each one's full-size PNG, with its caption and page. */
  function imageViewer(links) {
    return {
      count: links.length,
      render(position) {
        const link = links[position];
        const image = dialog.querySelector("img");
        image.hidden = false;
        dialog.querySelector(".crop").hidden = true;
        image.src = link.dataset.full;
        image.alt = link.querySelector("img").alt;
        dialog.querySelector(".caption").textContent = link.dataset.caption;
        const page = dialog.querySelector(".page");
        page.hidden = !link.dataset.page;
        page.href = link.dataset.page || "";
      },
    };
  }

  /* A feature-map grid: one channel at a time, cut from the grid image by CSS (a canvas could not
   * read an image loaded from file://), scaled up with crisp pixels. Tiles are 1 px apart. */
  function channelViewer(link) {
    const grid = link.querySelector("img");
    const channels = Number(link.dataset.channels);
    const perRow = Number(link.dataset.perRow);
    const cols = Math.min(channels, perRow);
    const rows = Math.ceil(channels / perRow);
    const width = (grid.naturalWidth + 1) / cols - 1;
    const height = (grid.naturalHeight + 1) / rows - 1;
    const dead = new Set(link.dataset.dead.split(" ").filter(Boolean).map(Number));
    return {
      count: channels,
      render(channel) {
        dialog.querySelector("img").hidden = true;
        const crop = dialog.querySelector(".crop");
        const scale = Math.max(1, Math.min(window.innerWidth * 0.85 / width, window.innerHeight * 0.7 / height));
        const left = (channel % perRow) * (width + 1);
        const top = Math.floor(channel / perRow) * (height + 1);
        Object.assign(crop.style, {
          width: `${width * scale}px`, height: `${height * scale}px`, backgroundImage: `url("${grid.src}")`,
          backgroundSize: `${grid.naturalWidth * scale}px ${grid.naturalHeight * scale}px`,
          backgroundPosition: `-${left * scale}px -${top * scale}px`,
        });
        crop.hidden = false;
        const label = `${link.dataset.layer} · channel ${channel} of ${channels}${dead.has(channel) ? " (dead)" : ""}`;
        crop.setAttribute("aria-label", label);
        crop.dataset.channel = channel;
        dialog.querySelector(".caption").textContent = label;
        dialog.querySelector(".page").hidden = true;
      },
    };
  }

  /* The channel under the pointer: the grid is `perRow` tiles wide, drawn at any scale. */
  function channelAt(link, event) {
    const channels = Number(link.dataset.channels);
    const perRow = Number(link.dataset.perRow);
    const box = link.querySelector("img").getBoundingClientRect();
    const col = Math.floor(((event.clientX - box.left) / box.width) * Math.min(channels, perRow));
    const row = Math.floor(((event.clientY - box.top) / box.height) * Math.ceil(channels / perRow));
    return Math.max(0, Math.min(row * perRow + col, channels - 1));
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-full], a[data-channels]");
    // Modified clicks keep their usual meaning (a new tab for the filter page or the PNG).
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (link.dataset.channels) {
      open(channelViewer(link), channelAt(link, event));
    } else {
      const links = visibleLinks();
      open(imageViewer(links), links.indexOf(link));
    }
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
