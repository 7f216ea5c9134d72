// events.js: the one live-event socket of the app. POST /devicehub/events/ticket names the port and path;
// the socket (subprotocol devicehub.events.v1) asks for everything after the last seq it saw, so a drop
// loses nothing the server still holds; when it does not hold it any more ({"type":"resync"}, or a hub
// that restarted) every onResync callback runs and pages refetch. Reconnects with backoff, at once when
// the tab becomes visible or the browser goes back online.

export function createEvents(api) {
  const handlers = new Map();      // type | '*' → Set(fn)
  const resyncHandlers = new Set();
  const stateHandlers = new Set();
  let socket = null;
  let lastSeq = 0;
  let attempt = 0;
  let timer = null;
  let stopped = true;

  const bus = {
    state: 'offline',
    get lastSeq() { return lastSeq; },
    on(type, fn) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type).add(fn);
      return () => handlers.get(type)?.delete(fn);
    },
    onResync(fn) {
      resyncHandlers.add(fn);
      return () => resyncHandlers.delete(fn);
    },
    onState(fn) {
      stateHandlers.add(fn);
      return () => stateHandlers.delete(fn);
    },
    start() {
      if (!stopped) return;
      stopped = false;
      connect();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close(1000);
      socket = null;
      setState('offline');
    },
    // Reconnect now (tab visible again, network back).
    kick() {
      if (stopped || bus.state !== 'offline') return;
      clearTimeout(timer);
      attempt = 0;
      connect();
    },
  };

  function setState(s) {
    if (bus.state === s) return;
    bus.state = s;
    for (const fn of stateHandlers) safe(fn, s);
  }

  function safe(fn, arg) {
    try { fn(arg); } catch (e) { console.error('event handler failed', e); }
  }

  function dispatch(ev) {
    for (const key of [ev.type, '*']) {
      const set = handlers.get(key);
      if (set) for (const fn of [...set]) safe(fn, ev);
    }
  }

  function resync() {
    for (const fn of [...resyncHandlers]) safe(fn);
  }

  function scheduleReconnect() {
    if (stopped) return;
    setState('offline');
    const base = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5));
    attempt += 1;
    timer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  async function connect() {
    if (stopped) return;
    setState('connecting');
    let ticket;
    try {
      ticket = await api.post('/devicehub/events/ticket', {});
    } catch (e) {
      if (e.status === 401) { bus.stop(); return; }
      scheduleReconnect();
      return;
    }
    if (stopped) return;
    const scheme = ticket.secure || location.protocol === 'https:' ? 'wss' : 'ws';
    const q = new URLSearchParams({ticket: ticket.ticket});
    if (lastSeq > 0) q.set('since', String(lastSeq));
    // The socket is on the device port of the host the page came from (an IPv6 hostname keeps its brackets).
    const url = `${scheme}://${location.hostname}:${ticket.port}${ticket.path || '/devicehub/events'}?${q}`;
    let ws;
    try {
      ws = new WebSocket(url, 'devicehub.events.v1');
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    const hadSeq = lastSeq;
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.type === 'hello') {
        attempt = 0;
        // A hub that restarted counts from 1 again: what we hold may be stale.
        if (hadSeq > 0 && typeof ev.seq === 'number' && ev.seq < hadSeq) {
          lastSeq = ev.seq;
          resync();
        } else if (hadSeq === 0) lastSeq = ev.seq || 0;
        setState('live');
        return;
      }
      if (ev.type === 'resync') {
        resync();
        return;
      }
      if (typeof ev.seq === 'number') {
        if (ev.seq <= lastSeq) return;  // already seen
        lastSeq = ev.seq;
      }
      dispatch(ev);
    };
    ws.onclose = () => {
      if (socket === ws) socket = null;
      scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') bus.kick();
  });
  window.addEventListener('online', () => bus.kick());
  return bus;
}
