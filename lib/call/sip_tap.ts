/**
 * A look at the SIP responses JsSIP receives, without touching JsSIP's internals: {@linkcode TapSocket} wraps any
 * JsSIP socket (WebSocket, UDP, TCP, TLS) and hands each received message to a listener before JsSIP parses it;
 * {@linkcode peekResponse} reads the status line, Call-ID and CSeq method of a response (pure, no I/O).
 *
 * JsSIP raises no event for `100 Trying`; pbxkit reports it from here, keyed by the Call-ID of the INVITE (taken from
 * the documented `request` of JsSIP's `sending` event).
 *
 * @module
 */

/** What {@linkcode peekResponse} extracts. */
export interface PeekedResponse {
  /** Status code. */
  status: number;
  /** Reason phrase. */
  reason: string;
  /** Call-ID header value. */
  callId: string;
  /** Method of the CSeq header (`INVITE`, `REGISTER`, ...). */
  method: string;
}

/** The status, reason, Call-ID and CSeq method of a SIP response, or undefined for requests and garbage. */
export function peekResponse(message: string): PeekedResponse | undefined {
  const first = /^SIP\/2\.0 (\d{3}) ?([^\r\n]*)\r?\n/.exec(message);
  if (!first) return undefined;
  const headEnd = message.search(/\r?\n\r?\n/);
  const head = headEnd < 0 ? message : message.slice(0, headEnd);
  const callId = /^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]+)/im.exec(head)?.[1].trim();
  const method = /^cseq[ \t]*:[ \t]*\d+[ \t]+([A-Za-z]+)/im.exec(head)?.[1].toUpperCase();
  if (!callId || !method) return undefined;
  return { status: Number(first[1]), reason: first[2].trim(), callId, method };
}

/** The parts of JsSIP's socket interface pbxkit's sockets implement. */
export interface JsSipSocket {
  /** Transport for the Via header (`WS`, `WSS`, `UDP`, `TCP`, `TLS`). */
  readonly via_transport: string;
  /** The socket's URL. */
  readonly url: string;
  /** SIP URI of the next hop. */
  readonly sip_uri: string;
  /** Set by JsSIP. */
  onconnect: (...args: unknown[]) => void;
  /** Set by JsSIP. */
  ondisconnect: (...args: unknown[]) => void;
  /** Set by JsSIP. */
  ondata: (...args: unknown[]) => void;
  /** Open. */
  connect(): void;
  /** Close. */
  disconnect(): void;
  /** Send one SIP message. */
  send(message: string): boolean;
  /** Whether it is open. */
  isConnected(): boolean;
  /** Whether it is opening. */
  isConnecting(): boolean;
}

/** A JsSIP socket that shows every received message to `onMessage` before JsSIP sees it. */
export class TapSocket implements JsSipSocket {
  readonly #inner: JsSipSocket;
  readonly #tap: (message: string) => void;
  #ondata: (...args: unknown[]) => void = () => {};

  /** Wrap `inner`; `onMessage` gets each received message as text. */
  constructor(inner: JsSipSocket, onMessage: (message: string) => void) {
    this.#inner = inner;
    this.#tap = onMessage;
    inner.ondata = (data: unknown) => {
      try {
        this.#tap(typeof data === "string" ? data : new TextDecoder().decode(data as Uint8Array));
      } catch { /* a listener's bug must not stop SIP */ }
      this.#ondata(data);
    };
  }

  /** The inner socket's Via transport. */
  get via_transport(): string {
    return this.#inner.via_transport;
  }
  /** The inner socket's URL. */
  get url(): string {
    return this.#inner.url;
  }
  /** The inner socket's next hop. */
  get sip_uri(): string {
    return this.#inner.sip_uri;
  }
  /** JsSIP's connect callback, forwarded to the inner socket. */
  get onconnect(): (...args: unknown[]) => void {
    return this.#inner.onconnect;
  }
  set onconnect(f: (...args: unknown[]) => void) {
    this.#inner.onconnect = f;
  }
  /** JsSIP's disconnect callback, forwarded to the inner socket. */
  get ondisconnect(): (...args: unknown[]) => void {
    return this.#inner.ondisconnect;
  }
  set ondisconnect(f: (...args: unknown[]) => void) {
    this.#inner.ondisconnect = f;
  }
  /** JsSIP's data callback (called after the tap). */
  get ondata(): (...args: unknown[]) => void {
    return this.#ondata;
  }
  set ondata(f: (...args: unknown[]) => void) {
    this.#ondata = f;
  }
  /** Open the inner socket. */
  connect(): void {
    this.#inner.connect();
  }
  /** Close the inner socket. */
  disconnect(): void {
    this.#inner.disconnect();
  }
  /** Send through the inner socket. */
  send(message: string): boolean {
    return this.#inner.send(message);
  }
  /** Whether the inner socket is open. */
  isConnected(): boolean {
    return this.#inner.isConnected();
  }
  /** Whether the inner socket is opening. */
  isConnecting(): boolean {
    return this.#inner.isConnecting();
  }
}
