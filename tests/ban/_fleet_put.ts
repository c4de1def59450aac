/**
 * Test helper, run inside a namespace: put raw values into the fleet's KV bucket, as a hostile or broken node
 * would. `deno run -A _fleet_put.ts URL BUCKET` with a JSON list `[{"key": "...", "value": "..."}]` on stdin (an item
 * with `"subject"` instead of `"key"` is a plain publish there, e.g. a forged live message; its revision is 0);
 * `FLEET_CA` (CA file), `FLEET_USER`/`FLEET_PASSWORD` or `FLEET_CREDS` (a creds file) from the environment. Opening
 * the bucket asks the server's JetStream API for its stream, so `[]` on stdin checks that the bucket is there for
 * this user's account. Prints the revisions as JSON.
 *
 * @module
 */

import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";

const [url, bucket] = Deno.args;
const items = JSON.parse(await new Response(Deno.stdin.readable).text()) as {
  key?: string;
  subject?: string;
  value: string;
}[];
const ca = Deno.env.get("FLEET_CA"), creds = Deno.env.get("FLEET_CREDS");
const nc = await connect({
  servers: [url],
  tls: ca ? { caFile: ca } : undefined,
  user: Deno.env.get("FLEET_USER"),
  pass: Deno.env.get("FLEET_PASSWORD"),
  authenticator: creds ? credsAuthenticator(await Deno.readFile(creds)) : undefined,
  timeout: 5000,
});
const kv = await new Kvm(jetstream(nc)).open(bucket);
await kv.status(); // the stream's info from the server: fails when the bucket is not there for this account
const revs: number[] = [];
for (const it of items) {
  const value = new TextEncoder().encode(it.value);
  if (it.subject !== undefined) {
    nc.publish(it.subject, value);
    revs.push(0);
  } else revs.push(await kv.put(it.key!, value));
}
await nc.flush();
console.log(JSON.stringify(revs));
await nc.close();
