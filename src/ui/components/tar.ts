/** A checkpoint folder as one download: POSIX ustar, which `tar xf` and every archiver read. */

/** A POSIX ustar archive of `folder/<name>` for each file. */
export function tarFolder(folder: string, files: Map<string, Uint8Array>, mtime = Date.now()): Blob {
  const parts: BlobPart[] = [];
  for (const [name, bytes] of files) {
    parts.push(tarHeader(`${folder}/${name}`, bytes.length, mtime), bytes as Uint8Array<ArrayBuffer>);
    const pad = (512 - (bytes.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024)); // two zero blocks end the archive
  return new Blob(parts, { type: 'application/x-tar' });
}

function tarHeader(path: string, size: number, mtime: number): Uint8Array<ArrayBuffer> {
  if (path.length > 99) throw new Error(`tar: file name longer than 99 characters: ${path}`);
  const h = new Uint8Array(512);
  const put = (offset: number, text: string) => h.set(new TextEncoder().encode(text), offset);
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';
  put(0, path);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(Math.floor(mtime / 1000), 12));
  put(148, '        '); // checksum counts its own field as spaces
  put(156, '0');
  put(257, 'ustar\u000000');
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}
