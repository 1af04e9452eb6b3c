/**
 * Kernel definitions and the shader builder. A kernel's `.wgsl` file holds only its functions and entry
 * point; the builder generates the boilerplate once — the `Params` uniform struct, the storage bindings
 * in launch order, variant constants — so every kernel reads its shapes from `params` and new shapes
 * compile nothing (DESIGN.md: pipelines cached by shader variant, shapes as uniforms).
 */
export type ScalarType = 'u32' | 'i32' | 'f32';

export interface BindingDecl {
  readonly name: string;
  /** `read` storage buffers are bound read-only. */
  readonly access: 'read' | 'read_write';
  /** WGSL element type of the array, e.g. `f32`, `u32`, `vec4<f32>`, `atomic<u32>`. */
  readonly type: string;
}

export type ParamDecl = Readonly<Record<string, ScalarType>>;
export type VariantValue = number | boolean | string;
export type Variant = Readonly<Record<string, VariantValue>>;

export interface KernelDef<P extends ParamDecl = ParamDecl> {
  readonly name: string;
  /** The kernel's WGSL body (imported with `?raw`). */
  readonly source: string;
  readonly bindings: readonly BindingDecl[];
  readonly params: P;
  readonly entry?: string;
  /**
   * Extra WGSL generated per variant (e.g. a weight loader for f32 vs packed f16). Variant values
   * are also emitted as `const NAME = value;` so the body can branch on them at compile time.
   */
  readonly prelude?: (variant: Variant) => string;
  /** Features the shader needs (`enable subgroups;` is emitted when `subgroups` is listed). */
  readonly enables?: readonly ('subgroups' | 'f16')[];
}

export type ParamValues<P extends ParamDecl> = { readonly [K in keyof P]: number };

export function defineKernel<P extends ParamDecl>(def: KernelDef<P>): KernelDef<P> {
  return def;
}

function constLine(name: string, v: VariantValue): string {
  if (typeof v === 'boolean') return `const ${name}: bool = ${v};`;
  if (typeof v === 'number') return Number.isInteger(v) ? `const ${name}: u32 = ${v}u;` : `const ${name}: f32 = ${v};`;
  return `// ${name} = ${v}`;
}

/** Bytes of the uniform struct: 4 per field, rounded up to 16 as uniform buffers require. */
export function paramsBytes(params: ParamDecl): number {
  return Math.max(16, Math.ceil((Object.keys(params).length * 4) / 16) * 16);
}

export function buildShader(def: KernelDef, variant: Variant): string {
  const lines: string[] = [];
  for (const e of def.enables ?? []) lines.push(`enable ${e};`);
  lines.push(`// ${def.name} ${JSON.stringify(variant)}`);
  const fields = Object.entries(def.params);
  lines.push('struct Params {');
  if (fields.length === 0) lines.push('  _unused: u32,');
  for (const [name, type] of fields) lines.push(`  ${name}: ${type},`);
  lines.push('}');
  lines.push('@group(0) @binding(0) var<uniform> params: Params;');
  def.bindings.forEach((b, i) => {
    const access = b.access === 'read' ? 'read' : 'read_write';
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<${b.type}>;`);
  });
  for (const [k, v] of Object.entries(variant)) lines.push(constLine(k, v));
  if (def.prelude) lines.push(def.prelude(variant));
  lines.push(def.source);
  return lines.join('\n');
}

export function variantKey(def: KernelDef, variant: Variant): string {
  const keys = Object.keys(variant).sort();
  return def.name + '|' + keys.map((k) => `${k}=${variant[k]}`).join(',');
}
