() => {
  if (window.__qaUiInstalled) return;
  window.__qaUiInstalled = true;
  if (!document.getElementById("qa-style")) {
    const style = document.createElement("style");
    style.id = "qa-style";
    style.textContent = __QA_CSS__;
    document.head.appendChild(style);
  }
  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      let done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      area.remove();
      return done;
    }
  };
  // A new question is scrolled to the top of the chat and kept there while its answer streams in
  // (until the reader scrolls or clicks), so answers are read from their start.
  let questions = 0;
  let pinned = null;
  const scroller = (el, chat) => {
    let box = el.parentElement;
    while (box && box !== chat && !/(auto|scroll)/.test(getComputedStyle(box).overflowY)) box = box.parentElement;
    return box && box !== chat ? box : null;
  };
  const follow = () => {
    const chat = document.getElementById("qa-chat");
    if (!chat) return;
    const asked = chat.querySelectorAll('[data-testid="user"]');
    if (asked.length > questions) pinned = asked[asked.length - 1];
    questions = asked.length;
    if (!pinned || !pinned.isConnected) return;
    const box = scroller(pinned, chat);
    if (box) box.scrollTop += pinned.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
  };
  new MutationObserver(follow).observe(document.body, { childList: true, subtree: true, characterData: true });
  for (const kind of ["wheel", "touchstart", "mousedown", "keydown"]) {
    window.addEventListener(kind, () => { pinned = null; }, { capture: true, passive: true });
  }
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const ref = target.closest("a.qa-ref");
    if (ref) {
      const id = (ref.getAttribute("href") || "").replace(/^#/, "");
      const source = id ? document.getElementById(id) : null;
      if (!source) return;
      event.preventDefault();
      event.stopPropagation();
      const details = source.closest("details");
      if (details) details.open = true;
      document.querySelectorAll(".qa-src.qa-focus").forEach((el) => el.classList.remove("qa-focus"));
      source.classList.add("qa-focus");
      source.scrollIntoView({ behavior: "smooth", block: "nearest" });
      source.focus({ preventScroll: true });
      return;
    }
    const button = target.closest("button.qa-copy");
    if (button) {
      event.preventDefault();
      event.stopPropagation();
      const answer = button.closest(".qa-answer");
      const plain = answer ? answer.querySelector(".qa-plain") : null;
      if (!plain) return;
      copyText(plain.textContent).then((done) => {
        button.textContent = done ? "Copied ✓" : "Copy failed";
        setTimeout(() => { button.textContent = "Copy answer + sources"; }, 1600);
      });
    }
  }, true);
}
