/**
 * The simulated call chain of the running task, read from the JS stack.
 *
 * Functions that model kernel functions carry the kernel's names, so the JS
 * stack of a running task *is* its kernel call chain once the substrate's own
 * frames are dropped. Capturing it costs a stack walk, so it is only done on
 * slow paths (an Oops, a WARN, an armed fault-injection point with a caller
 * filter) and never on a hot path.
 *
 * @module
 */

/** One frame of a simulated call chain. */
export interface Frame {
  /** Function name (a kernel name for kernel-modelling code). */
  fn: string;
  /** Source file relative to the repository's lib/ (or the raw URL outside it). */
  file: string;
  /** Line number in that file. */
  line: number;
}

const FRAME_RE = /^\s*at (?:async )?(?:(.+?) \()?(.+?):(\d+):(\d+)\)?$/;

/**
 * The call chain of the caller, innermost first, without anonymous frames,
 * cut where the task began (the first lib/sim frame below kernel frames: the
 * scheduler or the RCU engine) or at the first frame outside lib/.
 *
 * @param skip extra innermost frames to drop (beyond callChain itself).
 */
export function callChain(skip = 0): Frame[] {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = saved;
  return parseStack(stack, skip + 1);
}

/** Parses a V8 stack string into simulated frames (see {@link callChain}). */
export function parseStack(stack: string, skip = 0): Frame[] {
  const out: Frame[] = [];
  const lines = stack.split("\n").slice(1 + skip);
  let sawLib = false;
  for (const line of lines) {
    const m = FRAME_RE.exec(line);
    if (!m) continue;
    const url = m[2]!;
    const libAt = url.lastIndexOf("/lib/");
    if (libAt < 0) {
      if (sawLib) break;
      continue;
    }
    const file = url.slice(libAt + 1);
    if (file.startsWith("lib/sim/")) {
      // below the kernel frames, the substrate (scheduler, RCU engine) is where the task began
      if (sawLib) break;
      continue;
    }
    sawLib = true;
    let fn = m[1] ?? "";
    fn = fn.replace(/^(?:Object|Generator|Function|new )\.?/, "").replace(/^.*\./, "");
    if (fn === "" || fn === "<anonymous>" || fn === "next") continue;
    out.push({ fn, file, line: Number(m[3]) });
  }
  return out;
}

/** Formats frames the way dmesg shows a call trace. */
export function formatCallTrace(frames: readonly Frame[]): string[] {
  return ["Call Trace:", ...frames.map((f) => ` ${f.fn}+0x0/0x0 [${f.file}:${f.line}]`)];
}
