/**
 * Optional Debian tools for tests (chromium, jupyter-nbconvert,
 * python3-nbformat): a test that needs one runs when it is present; when it
 * is missing the test prints ONE line saying what was not run and passes —
 * unless MEMREMAP_REQUIRE_TOOLS=1, when a missing tool fails the test.
 *
 * @module
 */

/** The optional tools and how to tell that each is installed. */
export const TOOLS = {
  chromium: {
    package: "chromium",
    probe: ["/usr/bin/chromium", "--version"],
  },
  "jupyter-nbconvert": {
    package: "jupyter-nbconvert python3-nbclient",
    probe: ["/usr/bin/jupyter-nbconvert", "--version"],
  },
  "python3-nbformat": {
    package: "python3-nbformat",
    probe: ["/usr/bin/python3", "-c", "import nbformat"],
  },
} as const;

/** A tool name. */
export type ToolName = keyof typeof TOOLS;

const cache = new Map<ToolName, boolean>();

async function present(tool: ToolName): Promise<boolean> {
  const known = cache.get(tool);
  if (known !== undefined) return known;
  const [cmd, ...args] = TOOLS[tool].probe;
  let ok = false;
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    ok = out.success;
  } catch {
    ok = false;
  }
  cache.set(tool, ok);
  return ok;
}

/**
 * Says whether `tool` is available for the test `what`.
 *
 * @param tool The tool.
 * @param what What the test would check (for the one-line notice).
 * @returns true if the test should run.
 * @throws {Error} If the tool is missing and MEMREMAP_REQUIRE_TOOLS=1.
 */
export async function haveTool(tool: ToolName, what: string): Promise<boolean> {
  if (await present(tool)) return true;
  const message = `${tool} is not installed (apt-get install -y ${
    TOOLS[tool].package
  }): not run: ${what}`;
  if (Deno.env.get("MEMREMAP_REQUIRE_TOOLS") === "1") {
    throw new Error(`MEMREMAP_REQUIRE_TOOLS=1 and ${message}`);
  }
  console.log(`SKIPPED: ${message}`);
  return false;
}
