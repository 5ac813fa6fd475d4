// The simulator page's logic: one EventSource (/events) keeps the state; sends go to /api/*.
// Plain browser JavaScript, no build step. The markdown renderer is `marked`, served by the simulator.
import { Marked } from '/vendor/marked.js';

const state = {
  senders: [],
  group: { key: 'group', title: '群聊' },
  items: new Map(), // id → ChatItem
  answers: new Map(), // id → AnswerItem
  calls: [],
  faults: [],
  status: { connected: false },
  current: null, // conversation key
  unread: new Map(),
};
/** Per card: how many characters are shown, for the typewriter reveal. */
const reveal = new Map();

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// DingTalk renders markdown but never raw HTML: escape it. Images uploaded by the plugin are `@mediaId`.
const md = new Marked({ gfm: true, breaks: true });
md.use({
  renderer: {
    html: (token) => esc(token.text ?? token.raw ?? ''),
    image: (token) => {
      const href = String(token.href ?? '');
      const src = href.startsWith('@') ? `/media/${encodeURIComponent(href)}` : /^https?:|^\/(media|download)\//.test(href) ? href : '';
      if (!src) return `<span class="broken-img" title="${esc(href)}">[图片无法显示: ${esc(token.text || href)}]</span>`;
      return `<img src="${esc(src)}" alt="${esc(token.text)}" loading="lazy">`;
    },
    link: (token) => `<a href="${esc(token.href)}" target="_blank" rel="noopener noreferrer">${md.parseInline(token.text)}</a>`,
  },
});
const renderMd = (text) => md.parse(String(text ?? ''));

function convTitle(key) {
  if (key === state.group.key) return state.group.title;
  const s = state.senders.find((x) => `dm:${x.staffId}` === key);
  return s ? s.nick : key;
}

function conversations() {
  return [state.group.key, ...state.senders.map((s) => `dm:${s.staffId}`)];
}

function renderSidebar() {
  const ul = $('conversations');
  ul.innerHTML = '';
  for (const key of conversations()) {
    const li = document.createElement('li');
    li.className = key === state.current ? 'active' : '';
    li.dataset.conv = key;
    const last = [...state.items.values()].filter((i) => i.conv === key).sort((a, b) => a.at - b.at).at(-1);
    const sender = state.senders.find((x) => `dm:${x.staffId}` === key);
    const idle = key === state.group.key ? '群聊 · 需要 @钉钉助手' : sender && !sender.allowed ? '不在 allowFrom 中：机器人会拒绝' : '单聊 · 与机器人的对话';
    const preview = last ? (last.kind === 'card' ? '[AI 卡片] ' : '') + (last.text ?? last.fileName ?? '[图片]').replace(/[#>*`_~]|!?\[[^\]]*\]\([^)]*\)/g, '').replace(/\s+/g, ' ').trim().slice(0, 30) : idle;
    const unread = state.unread.get(key) ?? 0;
    const name = convTitle(key);
    li.innerHTML = `<span class="avatar ${key === state.group.key ? 'group' : ''}">${esc(key === state.group.key ? '群' : name.slice(-1))}</span>
      <span class="conv-text"><b>${esc(key === state.group.key ? name : `${name} ↔ 钉钉助手`)}</b><small>${esc(preview)}</small></span>
      ${unread ? `<span class="badge">${unread}</span>` : ''}`;
    li.onclick = () => selectConversation(key);
    ul.appendChild(li);
  }
}

function selectConversation(key) {
  state.current = key;
  state.unread.delete(key);
  const group = key === state.group.key;
  document.body.classList.toggle('in-group', group);
  $('chat-title').textContent = group ? state.group.title : `${convTitle(key)} 与 钉钉助手`;
  $('chat-sub').textContent = group ? `${state.senders.length + 1} 人 · 机器人只收到 @ 它的消息` : '单聊 (DM)';
  renderSidebar();
  renderMessages();
  $('input').focus();
}

function senderOf() {
  if (state.current === state.group.key) return $('sender').value;
  return state.current.slice(3);
}

function renderMessages() {
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.innerHTML = '';
  const list = [...state.items.values()].filter((i) => i.conv === state.current).sort((a, b) => a.at - b.at);
  if (list.length === 0) box.innerHTML = `<div class="empty">发一条消息试试。机器人的回答会以 <b>AI 卡片</b> 流式出现；右侧是插件对钉钉的每一次调用。</div>`;
  for (const item of list) box.appendChild(renderItem(item));
  if (atBottom || list.length <= 1) box.scrollTop = box.scrollHeight;
}

function updateItemInPlace(item) {
  if (item.conv !== state.current) return false;
  const el = document.querySelector(`[data-item="${CSS.escape(item.id)}"]`);
  if (!el) return false;
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  el.replaceWith(renderItem(item));
  if (atBottom) box.scrollTop = box.scrollHeight;
  return true;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString('zh-CN', { hour12: false });
}

function renderItem(item) {
  const row = document.createElement('div');
  row.dataset.item = item.id;
  row.className = `msg ${item.from}`;
  const who = item.from === 'bot' ? '钉钉助手' : item.sender?.nick ?? '';
  const avatar = `<span class="avatar ${item.from === 'bot' ? 'bot' : ''}">${esc(item.from === 'bot' ? '助' : who.slice(-1))}</span>`;
  let body = '';
  if (item.kind === 'card') body = renderCard(item);
  else if (item.kind === 'markdown') body = `<div class="bubble markdown">${renderMd(item.text)}</div>`;
  else if (item.kind === 'picture') body = `<div class="bubble picture"><img src="${esc(item.url)}" alt="${esc(item.fileName ?? '图片')}"></div>`;
  else if (item.kind === 'file') body = renderFile(item);
  else body = `<div class="bubble text">${item.atBot ? '<span class="at">@钉钉助手</span> ' : ''}${esc(item.text)}</div>`;
  const answer = item.answerId && state.answers.get(item.answerId);
  const meta = [
    `<span>${esc(who)}</span>`,
    `<span>${time(item.at)}</span>`,
    item.via && item.kind !== 'card' ? `<span class="via">经 ${esc(item.via)}</span>` : '',
  ].join('');
  const note = item.note ? `<div class="note">${esc(item.note)}</div>` : '';
  const cost = item.from === 'user' && answer ? `<div class="cost" title="插件为回答这条消息对钉钉发出的调用次数">本条回答：${answer.calls} 次钉钉调用${answer.failedCalls ? `（${answer.failedCalls} 次失败）` : ''}${modeText(answer)}</div>` : '';
  row.innerHTML = `${avatar}<div class="msg-main"><div class="meta">${meta}</div>${body}${note}${cost}</div>`;
  return row;
}

function renderFile(item) {
  const size = item.size ? `${(item.size / 1024).toFixed(1)} KB` : '';
  const ext = (item.fileName ?? '').split('.').pop()?.toUpperCase().slice(0, 4) || 'FILE';
  return `<a class="bubble file" href="${esc(item.url ?? '#')}" target="_blank" rel="noopener"><span class="file-icon">${esc(ext)}</span><span><b>${esc(item.fileName)}</b><small>${esc(size)}</small></span></a>`;
}

const STATE_LABEL = { waiting: '思考中…', streaming: '输入中…', finished: '已完成', failed: '失败' };

function renderCard(item) {
  const shown = reveal.get(item.id)?.shown ?? (item.text ?? '').length;
  const text = (item.text ?? '').slice(0, shown);
  const typing = item.state === 'waiting' || item.state === 'streaming' || shown < (item.text ?? '').length;
  const content = text ? renderMd(text) : '<p class="thinking"><span></span><span></span><span></span></p>';
  return `<div class="card state-${item.state}">
    <div class="card-head"><span class="card-ai">AI</span> 钉钉助手 <span class="card-state">${esc(STATE_LABEL[item.state] ?? item.state)}</span></div>
    <div class="card-body markdown ${typing ? 'typing' : ''}">${content}</div>
    <div class="card-foot"><span>AI 卡片 · 流式更新 ${item.updates ?? 0} 次</span><span>内容由 AI 生成</span></div>
  </div>`;
}

// Typewriter: DingTalk clients reveal streamed card text smoothly; each update is revealed over about a second.
function animateCard(item) {
  const target = (item.text ?? '').length;
  const r = reveal.get(item.id) ?? { shown: 0 };
  reveal.set(item.id, r);
  if (item.state === 'failed') r.shown = target;
  if (r.shown > target) r.shown = target;
  r.target = target;
  r.step = Math.max(1, Math.ceil((target - r.shown) / (item.state === 'finished' ? 20 : 45)));
  if (r.timer) return;
  const tick = () => {
    const cur = state.items.get(item.id);
    if (!cur) return;
    r.shown = Math.min(r.target, r.shown + r.step);
    updateItemInPlace(cur);
    if (r.shown < r.target) r.timer = setTimeout(tick, 25);
    else r.timer = undefined;
  };
  r.timer = setTimeout(tick, 25);
}

function onItem(item, fresh) {
  const known = state.items.has(item.id);
  state.items.set(item.id, item);
  if (item.kind === 'card') animateCard(item);
  if (!known && fresh && item.conv !== state.current) state.unread.set(item.conv, (state.unread.get(item.conv) ?? 0) + 1);
  if (!updateItemInPlace(item) && item.conv === state.current) {
    renderMessages();
    // A new message in the open chat: show it, as a chat app does.
    if (!known) $('messages').scrollTop = $('messages').scrollHeight;
  }
  renderSidebar();
}

function renderFaults() {
  const box = $('faults');
  box.innerHTML = '';
  for (const f of state.faults) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `fault ${f.on ? 'on' : ''} ${f.toggle ? '' : 'oneshot'}`;
    b.dataset.fault = f.name;
    b.title = f.unavailable ?? f.hint;
    b.disabled = !!f.unavailable;
    b.textContent = `${f.toggle ? (f.on ? '● ' : '○ ') : '⚡ '}${f.label}`;
    b.setAttribute('aria-pressed', String(!!f.on));
    b.onclick = async () => {
      b.disabled = true;
      const res = await fetch('/api/fault', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: f.name, on: !f.on }) });
      if (!res.ok) toast((await res.json()).error ?? '操作失败');
      else toast(f.toggle ? `${f.label}：${f.on ? '已关闭' : '已开启'}` : `${f.label}：已执行`);
      b.disabled = false;
    };
    box.appendChild(b);
  }
}

function toast(text) {
  const t = document.createElement('div');
  t.className = 'toast';
  t.textContent = text;
  document.body.appendChild(t);
  setTimeout(() => t.remove(), 2500);
}

function renderStatus() {
  const s = state.status;
  $('conn').className = `conn ${s.connected ? 'ok' : 'down'}`;
  $('conn-text').textContent = s.connected ? 'Stream 已连接' : s.reconnectAttempts ? `重连中… (${s.reconnectAttempts})` : '连接中…';
  $('conn').title = s.lastError ? `最近错误：${s.lastError}` : '插件与（模拟）钉钉之间的 Stream 长连接';
}

function shortPath(c) {
  return c.path.replace(/^\/v1\.0\//, '/').replace(/^\/__dl\/.*/, '/__dl/… (文件下载)');
}

function callRow(c) {
  const tr = document.createElement('tr');
  const ok = c.status >= 200 && c.status < 300 && !c.code;
  tr.className = ok ? '' : 'failed';
  const answer = c.answerId ? state.answers.get(c.answerId) : null;
  const answerNo = answer ? [...state.answers.keys()].indexOf(c.answerId) + 1 : '';
  tr.innerHTML = `<td>${esc(time(c.at))}</td><td>${esc(c.method)}</td><td title="${esc(c.host)} ${esc(c.path)}">${esc(shortPath(c))}${c.code ? `<small>${esc(c.code)}</small>` : ''}</td><td class="status">${c.status || '—'}</td><td>${answerNo ? `#${answerNo}` : '<span class="conn-call" title="令牌与 Stream 连接：不属于某条回答">连接</span>'}</td>`;
  return tr;
}

function renderCalls() {
  const body = $('calls');
  body.innerHTML = '';
  for (const c of state.calls) body.appendChild(callRow(c));
  renderTotals();
}

function renderTotals() {
  const failed = state.calls.filter((c) => !(c.status >= 200 && c.status < 300) || c.code).length;
  $('totals').innerHTML = `<b>${state.calls.length}</b> 次调用 <small>calls</small> · <b>${failed}</b> 次失败 · <b>${state.answers.size}</b> 条回答`;
  const box = $('answers');
  box.innerHTML = '';
  const list = [...state.answers.values()];
  list.forEach((a, i) => {
    const div = document.createElement('div');
    div.className = `answer ${i === list.length - 1 ? 'latest' : ''}`;
    div.innerHTML = `<span>#${i + 1} ${esc(convTitle(a.conv))}：${esc(a.label || '…')}</span><b title="本条回答的钉钉调用次数">${a.calls} 次${a.failedCalls ? `<small>${a.failedCalls} 失败</small>` : ''}${modeText(a)}</b>`;
    box.appendChild(div);
  });
  box.scrollTop = box.scrollHeight;
}

function addLog(line) {
  const box = $('tab-logs');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const div = document.createElement('div');
  div.className = `log ${/^\S+ (WARN|ERROR) /.exec(line)?.[1]?.toLowerCase() ?? ''}`;
  div.textContent = line;
  $('logs').appendChild(div);
  while ($('logs').childElementCount > 1000) $('logs').firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function connect() {
  const es = new EventSource('/events');
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    state.senders = s.senders;
    state.group = s.group;
    state.items = new Map(s.items.map((i) => [i.id, i]));
    state.answers = new Map(s.answers.map((a) => [a.id, a]));
    state.calls = s.calls;
    state.faults = s.faults;
    state.status = s.status;
    $('source').textContent = `回答来源：${s.answerSource}`;
    $('sender').innerHTML = state.senders.map((x) => `<option value="${esc(x.staffId)}">${esc(x.nick)}</option>`).join('');
    $('logs').textContent = '';
    for (const line of s.logs) addLog(line);
    for (const i of state.items.values()) if (i.kind === 'card') reveal.set(i.id, { shown: (i.text ?? '').length });
    if (!state.current) state.current = `dm:${state.senders[0].staffId}`;
    selectConversation(state.current);
    renderFaults();
    renderStatus();
    renderCalls();
  });
  es.addEventListener('item', (e) => onItem(JSON.parse(e.data), true));
  es.addEventListener('call', (e) => {
    const c = JSON.parse(e.data);
    state.calls.push(c);
    const body = $('calls');
    const panel = $('calls-scroll');
    const atBottom = panel.scrollHeight - panel.scrollTop - panel.clientHeight < 40;
    body.appendChild(callRow(c));
    if (atBottom) panel.scrollTop = panel.scrollHeight;
  });
  es.addEventListener('answer', (e) => {
    const a = JSON.parse(e.data);
    state.answers.set(a.id, a);
    renderTotals();
    for (const item of state.items.values()) if (item.from === 'user' && item.answerId === a.id) updateItemInPlace(item);
  });
  es.addEventListener('faults', (e) => {
    state.faults = JSON.parse(e.data);
    renderFaults();
  });
  es.addEventListener('status', (e) => {
    state.status = JSON.parse(e.data);
    renderStatus();
  });
  es.addEventListener('log', (e) => addLog(JSON.parse(e.data).line));
  es.onerror = () => {
    state.status = { connected: false, lastError: '与模拟器的连接已断开（已停止？）' };
    renderStatus();
  };
}

async function send(text) {
  const res = await fetch('/api/send', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ conv: state.current, sender: senderOf(), text, atBot: $('at-bot').checked }),
  });
  if (!res.ok) toast((await res.json().catch(() => ({}))).error ?? '发送失败');
}

async function upload(file) {
  const q = new URLSearchParams({ conv: state.current, sender: senderOf(), atBot: String($('at-bot').checked), name: file.name });
  const res = await fetch(`/api/upload?${q}`, { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file });
  if (!res.ok) toast((await res.json().catch(() => ({}))).error ?? '上传失败');
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text) return;
  $('input').value = '';
  void send(text);
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
$('pick-image').onclick = () => $('image-input').click();
$('pick-file').onclick = () => $('file-input').click();
for (const id of ['image-input', 'file-input']) {
  $(id).addEventListener('change', (e) => {
    const f = e.target.files?.[0];
    if (f) void upload(f);
    e.target.value = '';
  });
}
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    $('tab-calls').classList.toggle('hidden', tab.dataset.tab !== 'calls');
    $('tab-logs').classList.toggle('hidden', tab.dataset.tab !== 'logs');
  });
}
connect();

/** The delivery mode the call governor chose for an answer (issue 18), e.g. ` · 方式 3 final-card`. */
function modeText(a) {
  return a.mode ? ` · <span class="mode" title="1 逐字卡片 · 2 较慢更新的逐字卡片 · 3 只显示结果的卡片 · 4 markdown 消息">方式 ${a.mode.n} ${esc(a.mode.name)}</span>` : '';
}
