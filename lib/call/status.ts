/**
 * How a call ended, as a stable outcome name and a documented process exit status, so scripts can act on it.
 * Pure mapping from SIP status codes and JsSIP causes; no I/O.
 *
 * | outcome       | exit | when                                                                      |
 * |---------------|------|---------------------------------------------------------------------------|
 * | answered      | 0    | the call was answered (whoever hung up), or `--listen` stopped cleanly    |
 * | (error)       | 1    | any other pbxkit error (bad file, internal error)                         |
 * | (usage)       | 2    | bad flags                                                                 |
 * | busy          | 3    | 486 Busy Here, 600 Busy Everywhere                                        |
 * | no-answer     | 4    | nobody answered before `--ring-timeout` (we sent CANCEL), or 408          |
 * | rejected      | 5    | 403, 603 Decline, 488/606 (media refused), any other 4xx-6xx              |
 * | auth-failed   | 6    | registration or call rejected by digest auth (401/407 after credentials)  |
 * | network-error | 7    | WebSocket/TLS connection failed or dropped, certificate not trusted       |
 * | unavailable   | 8    | 404, 480, 484, 604: no such user, or not registered                       |
 * | media-failed  | 9    | answered, but ICE/DTLS never connected or the SDP answer was unusable    |
 *
 * @module
 */

/** Stable outcome names (printed, and in `--json`). */
export type CallOutcome =
  | "answered"
  | "busy"
  | "no-answer"
  | "rejected"
  | "auth-failed"
  | "network-error"
  | "unavailable"
  | "media-failed";

/** The exit status of each outcome. Never renumber; only add. */
export const EXIT_STATUS: Readonly<Record<CallOutcome, number>> = {
  answered: 0,
  busy: 3,
  "no-answer": 4,
  rejected: 5,
  "auth-failed": 6,
  "network-error": 7,
  unavailable: 8,
  "media-failed": 9,
};

/** Outcome of a failed call from its final SIP status code. */
export function outcomeFromStatus(code: number): CallOutcome {
  if (code === 486 || code === 600) return "busy";
  if (code === 408 || code === 487) return "no-answer";
  if (code === 401 || code === 407) return "auth-failed";
  if (code === 404 || code === 480 || code === 484 || code === 604 || code === 410) return "unavailable";
  return "rejected";
}

/**
 * Outcome of a failed call from JsSIP's `failed` event: the SIP status when a response exists, else the cause
 * (`Connection Error`, `Request Timeout`, `Canceled`, ...). `canceledByUs` marks our own ring timeout.
 */
export function outcomeFromFailure(
  e: { cause?: string; statusCode?: number; originator?: string },
  canceledByUs = false,
): CallOutcome {
  if (canceledByUs) return "no-answer";
  const cause = e.cause ?? "";
  if (cause === "Bad Media Description" || cause === "WebRTC Error" || cause === "RTP Timeout") {
    return "media-failed";
  }
  if (cause === "Connection Error") return "network-error";
  if (cause === "Authentication Error") return "auth-failed";
  if (cause === "Request Timeout" || cause === "No Answer") return "no-answer";
  if (e.statusCode && e.statusCode >= 300) return outcomeFromStatus(e.statusCode);
  if (cause === "Busy") return "busy";
  if (cause === "Not Found" || cause === "Unavailable" || cause === "Address Incomplete") return "unavailable";
  return "rejected";
}

/** One line for the docs and `--help`: every exit status. */
export function exitStatusHelp(): string {
  return Object.entries(EXIT_STATUS).map(([k, v]) => `${v}=${k}`).join(", ") + ", 1=other error, 2=usage";
}
