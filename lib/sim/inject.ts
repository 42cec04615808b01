/**
 * Fault injection: named points that fail the n-th call, every call, or with a
 * seeded probability, optionally only when a given function is on the
 * simulated call chain (like failslab's stack filter).
 *
 * The primitive that owns a point asks `shouldFail(name)` and, when told to
 * fail, returns the errno its kernel caller reports. With nothing armed the
 * check is one integer compare.
 *
 * @module
 */
import { callChain } from "./callchain.ts";
import type { Prng } from "./prng.ts";

/** When an armed point fails. Exactly one of `nth`, `every` or `probability`. */
export interface FaultSpec {
  /** Fail the n-th matching call (1-based), once. */
  nth?: number;
  /** Fail every matching call. */
  every?: boolean;
  /** Fail each matching call with this probability (seeded). */
  probability?: number;
  /** Stop after this many failures (default: unlimited for every/probability). */
  times?: number;
  /** Only calls with this function on the simulated call chain match. */
  caller?: string;
}

/** A failure that was injected. */
export interface InjectedFault {
  /** The point's name. */
  point: string;
  /** The matching call's ordinal (1-based). */
  call: number;
  /** The innermost caller outside the primitive, if known. */
  caller: string;
}

interface Armed {
  spec: FaultSpec;
  calls: number;
  failures: number;
}

/** The fault-injection points of one machine. */
export class FaultInjector {
  /** Registered points with their descriptions (errno and kernel caller). */
  readonly points: Map<string, string> = new Map();
  /** Every failure injected so far, in order. */
  readonly injected: InjectedFault[] = [];
  #armed = new Map<string, Armed>();
  #armedCount = 0;
  #prng: Prng;
  /** Called for each injected failure (the kernel logs it). */
  onInject: ((f: InjectedFault) => void) | null = null;

  /**

   * Creates the object.

   * @param prng the machine's PRNG stream for probabilistic points.

   */
  constructor(prng: Prng) {
    this.#prng = prng;
  }

  /** Declares a point (idempotent). `description` says what fails and with which errno. */
  register(name: string, description: string): void {
    this.points.set(name, description);
  }

  /**
   * Arms point `name`. Throws if the point does not exist or the spec is not exactly one mode.
   *
   * @example Fail the second devm_add_action
   * ```ts
   * import { FaultInjector } from "./inject.ts";
   * import { Prng } from "./prng.ts";
   * import { assertEquals } from "@std/assert";
   * const f = new FaultInjector(new Prng(1));
   * f.register("devm_add_action", "devres node allocation fails: -ENOMEM");
   * f.arm("devm_add_action", { nth: 2 });
   * assertEquals([f.shouldFail("devm_add_action"), f.shouldFail("devm_add_action")], [false, true]);
   * ```
   */
  arm(name: string, spec: FaultSpec): void {
    if (!this.points.has(name)) {
      throw new RangeError(
        `Cannot arm fault point "${name}": no such point (known: ${
          [...this.points.keys()].sort().join(", ")
        })`,
      );
    }
    const modes = [spec.nth !== undefined, spec.every === true, spec.probability !== undefined]
      .filter(Boolean).length;
    if (modes !== 1) {
      throw new TypeError(
        `Cannot arm fault point "${name}": give exactly one of nth, every or probability`,
      );
    }
    if (spec.nth !== undefined && !(Number.isInteger(spec.nth) && spec.nth >= 1)) {
      throw new RangeError(`Cannot arm fault point "${name}": nth must be an integer ≥ 1`);
    }
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new RangeError(`Cannot arm fault point "${name}": probability must be in [0, 1]`);
    }
    if (!this.#armed.has(name)) this.#armedCount++;
    this.#armed.set(name, { spec, calls: 0, failures: 0 });
  }

  /** Disarms point `name` (no-op if it was not armed). */
  disarm(name: string): void {
    if (this.#armed.delete(name)) this.#armedCount--;
  }

  /** Disarms every point. */
  disarmAll(): void {
    this.#armed.clear();
    this.#armedCount = 0;
  }

  /** Whether any point is armed (a hot path may skip call-chain work only an armed point needs). */
  get anyArmed(): boolean {
    return this.#armedCount !== 0;
  }

  /** Whether the current call of point `name` must fail. */
  shouldFail(name: string): boolean {
    if (this.#armedCount === 0) return false;
    const a = this.#armed.get(name);
    if (a === undefined) return false;
    let caller = "";
    if (a.spec.caller !== undefined || this.onInject !== null) {
      const chain = callChain(1);
      caller = chain[0]?.fn ?? "";
      if (a.spec.caller !== undefined && !chain.some((f) => f.fn === a.spec.caller)) return false;
    }
    a.calls++;
    const s = a.spec;
    if (s.times !== undefined && a.failures >= s.times) return false;
    let fail: boolean;
    if (s.nth !== undefined) fail = a.calls === s.nth;
    else if (s.every) fail = true;
    else fail = this.#prng.chance(s.probability!);
    if (!fail) return false;
    a.failures++;
    const f: InjectedFault = { point: name, call: a.calls, caller };
    this.injected.push(f);
    this.onInject?.(f);
    return true;
  }
}
