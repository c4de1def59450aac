/**
 * The TFTP server's Prometheus series ({@linkcode TftpMetrics}), fed from the server's transfer events (one
 * call per transfer start and end: nothing on the per-block path, which may run in worker threads).
 *
 * @module
 */

import type { CounterChild, GaugeChild, HistogramChild, Metric, MetricsRegistry } from "../common/metrics.ts";
import type { TransferEvent } from "./server.ts";

/** Buckets of the transfer duration histogram, seconds. */
export const TRANSFER_DURATION_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The TFTP metric families on a registry; pass {@linkcode TftpMetrics.onEvent} as the server's `onEvent`. */
export class TftpMetrics {
  /** The registry the families are on. */
  readonly registry: MetricsRegistry;
  readonly #started: Metric<CounterChild>;
  readonly #completed: Metric<CounterChild>;
  readonly #failed: Metric<CounterChild>;
  readonly #active: GaugeChild;
  readonly #sent: CounterChild;
  readonly #received: CounterChild;
  readonly #retransmits: CounterChild;
  readonly #errors: Metric<CounterChild>;
  readonly #duplicates: CounterChild;
  readonly #duration: Metric<HistogramChild>;

  /** Register the families on `registry`. */
  constructor(registry: MetricsRegistry) {
    const r = this.registry = registry;
    this.#started = r.counter("pbxkit_tftp_transfers_started_total", "Transfers accepted, by op (read, write).", [
      "op",
    ]);
    this.#completed = r.counter("pbxkit_tftp_transfers_completed_total", "Transfers completed, by op.", ["op"]);
    this.#failed = r.counter(
      "pbxkit_tftp_transfers_failed_total",
      "Transfers that failed after starting (timeout, client error, write error), by op.",
      ["op"],
    );
    for (const op of ["read", "write"]) {
      this.#started.labels(op);
      this.#completed.labels(op);
      this.#failed.labels(op);
    }
    this.#active = r.gauge("pbxkit_tftp_transfers_active", "Transfers running now.").series;
    const bytes = r.counter(
      "pbxkit_tftp_bytes_total",
      "File bytes moved by ended transfers (sent: acknowledged by the client; received: uploads), by direction.",
      ["direction"],
    );
    this.#sent = bytes.labels("sent");
    this.#received = bytes.labels("received");
    this.#retransmits = r.counter(
      "pbxkit_tftp_retransmissions_total",
      "DATA blocks sent more than once (read transfers, booked when they end).",
    ).series;
    this.#errors = r.counter(
      "pbxkit_tftp_errors_total",
      "ERROR packets the server answered with, by TFTP error code (0 undefined/busy, 1 not found, 2 access, " +
        "3 disk full, 4 illegal operation, 8 option refused).",
      ["code"],
    );
    this.#duplicates = r.counter(
      "pbxkit_tftp_duplicate_requests_total",
      "Repeated requests from a client whose transfer is running (ignored).",
    ).series;
    this.#duration = r.histogram(
      "pbxkit_tftp_transfer_duration_seconds",
      "Duration of completed transfers, by op.",
      { buckets: TRANSFER_DURATION_BUCKETS, labelNames: ["op"] },
    );
  }

  /** Book one server event (bind it: `onEvent: (e) => m.onEvent(e)`). */
  onEvent(e: TransferEvent): void {
    switch (e.kind) {
      case "start":
        this.#started.labels(e.op).value++;
        this.#active.value++;
        break;
      case "done":
      case "failed":
        (e.kind === "done" ? this.#completed : this.#failed).labels(e.op).value++;
        this.#active.value--;
        if (e.bytes !== undefined) (e.op === "read" ? this.#sent : this.#received).value += e.bytes;
        if (e.retransmits) this.#retransmits.value += e.retransmits;
        if (e.code !== undefined) this.#errors.labels(String(e.code)).value++;
        if (e.kind === "done" && e.ms !== undefined) this.#duration.labels(e.op).observe(e.ms / 1000);
        break;
      case "refused":
        if (e.code !== undefined) this.#errors.labels(String(e.code)).value++;
        break;
      case "duplicate":
        this.#duplicates.value++;
        break;
    }
  }
}
