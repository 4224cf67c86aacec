// Markdown-lite for answers: paragraphs, line breaks, bullet and numbered lists, **bold**, *italic*,
// `code`, [links](https://…), bare https links and citation markers [1]. Built as DOM nodes, never as
// HTML strings, so nothing in a message can inject markup; only http(s) links become links.

const INLINE =
  /\*\*([^*\n]+)\*\*|\*([^*\s][^*\n]*)\*|`([^`\n]+)`|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'])|\[(\d{1,3})\]/g;
const BULLET = /^\s*[-*•]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,3}[.)]\s+(.*)$/;

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function link(href: string, text: string): HTMLAnchorElement {
  const anchor = element("a", text);
  anchor.href = href;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer nofollow";
  return anchor;
}

function inline(parent: Node, text: string): void {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const at = match.index ?? 0;
    if (at > last) parent.appendChild(document.createTextNode(text.slice(last, at)));
    const [whole, bold, italic, code, label, href, bare, cite] = match;
    if (bold !== undefined) parent.appendChild(element("strong", bold));
    else if (italic !== undefined) parent.appendChild(element("em", italic));
    else if (code !== undefined) parent.appendChild(element("code", code));
    else if (href !== undefined) parent.appendChild(link(href, label ?? href));
    else if (bare !== undefined) parent.appendChild(link(bare, bare));
    else if (cite !== undefined) {
      const marker = element("sup", `[${cite}]`);
      marker.className = "cite";
      parent.appendChild(marker);
    } else parent.appendChild(document.createTextNode(whole));
    last = at + whole.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

export function render(text: string): DocumentFragment {
  const out = document.createDocumentFragment();
  let paragraph: HTMLParagraphElement | null = null;
  let list: HTMLUListElement | HTMLOListElement | null = null;
  for (const line of text.split("\n")) {
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = element(tag);
        out.appendChild(list);
      }
      const item = element("li");
      inline(item, (bullet ?? numbered)![1]);
      list.appendChild(item);
      paragraph = null;
      continue;
    }
    list = null;
    if (!line.trim()) {
      paragraph = null;
      continue;
    }
    if (paragraph) paragraph.appendChild(element("br"));
    else {
      paragraph = element("p");
      out.appendChild(paragraph);
    }
    inline(paragraph, line);
  }
  return out;
}
