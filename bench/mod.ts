/**
 * `deno task bench [NAME...]`: runs the side-by-side benchmarks (not part of the test suite).
 * NAME is one of ws, ban, cache, bbb, call; none runs them all. Results are printed as tables with ratios and
 * written to bench/out/NAME.json (and an SVG chart where one helps).
 *
 * @module
 */

const BENCHES: Record<string, string> = {
  ws: "./ws.ts",
  ban: "./ban.ts",
  cache: "./cache.ts",
  bbb: "./bbb.ts",
  call: "./call.ts",
};

/** A benchmark module exports `run(args)`. */
export interface BenchModule {
  run(args: string[]): Promise<void>;
}

if (import.meta.main) {
  const [first, ...rest] = Deno.args;
  if (first === "--help" || first === "-h") {
    console.log(
      `usage: deno task bench [${Object.keys(BENCHES).join("|")}] [bench options]\n` +
        `example: deno task bench cache --requests 1000000`,
    );
    Deno.exit(0);
  }
  const names = first ? [first] : Object.keys(BENCHES);
  for (const name of names) {
    const path = BENCHES[name];
    if (!path) {
      console.error(`bench: error: unknown benchmark '${name}' (one of ${Object.keys(BENCHES).join(", ")}) [E_USAGE]`);
      Deno.exit(2);
    }
    let mod: BenchModule;
    try {
      mod = await import(path);
    } catch (err) {
      console.error(`bench: ${name}: not available yet (${(err as Error).message.split("\n")[0]})`);
      if (first) Deno.exit(1);
      continue;
    }
    console.log(`\n=== bench ${name} ===`);
    await mod.run(first ? rest : []);
  }
}
