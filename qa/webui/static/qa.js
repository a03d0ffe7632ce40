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
  // Gradio labels each chat message with its raw content (here HTML) for screen readers; relabel it
  // with the message's plain text: the question, or the answer and the titles of its sources.
  const plainLabel = (message) => {
    const bot = message.getAttribute("data-testid") === "bot";
    const answer = message.querySelector(".qa-answer");
    if (!bot) return "Question: " + message.textContent.trim();
    if (!answer) return "Answer: " + message.textContent.trim();
    const text = answer.querySelector(".qa-text, .qa-not-found, .qa-thinking, .qa-error p");
    const titles = [...answer.querySelectorAll(".qa-src .qa-title")].map((t) => t.textContent.trim());
    const conf = answer.querySelector(".qa-conf");
    return ["Answer: " + (text ? text.textContent.trim() : ""),
            titles.length ? "Sources: " + [...new Set(titles)].join("; ") : "",
            conf ? conf.textContent.trim() : ""].filter(Boolean).join(". ");
  };
  const relabel = () => {
    document.querySelectorAll('#qa-chat [data-testid="bot"][aria-label], #qa-chat [data-testid="user"][aria-label]').forEach((m) => {
      if ((m.getAttribute("aria-label") || "").includes("<")) m.setAttribute("aria-label", plainLabel(m));
    });
  };
  new MutationObserver(() => { follow(); relabel(); }).observe(document.body,
    { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["aria-label"] });
  for (const kind of ["wheel", "touchstart", "mousedown", "keydown"]) {
    window.addEventListener(kind, () => { pinned = null; }, { capture: true, passive: true });
  }
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const ref = target.closest("a.qa-ref");
    if (ref) {
      const id = (ref.getAttribute("href") || "").replace(/^#/, "");
      const anchor = id ? document.getElementById(id) : null;
      if (!anchor) return;
      event.preventDefault();
      event.stopPropagation();
      const excerpt = anchor.closest(".qa-cite") || anchor;
      document.querySelectorAll(".qa-cite.qa-focus").forEach((el) => el.classList.remove("qa-focus"));
      excerpt.classList.add("qa-focus");
      excerpt.scrollIntoView({ behavior: "smooth", block: "nearest" });
      anchor.focus({ preventScroll: true });
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
