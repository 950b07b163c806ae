#!/usr/bin/env python3
"""Bundle the shared libraries a Debian-built fleuve (and ffmpeg/ffprobe) need, to run them on a
GPU machine that has no Debian FFmpeg.  Usage: gpu-bundle.py OUT_DIR BINARY_OR_LIBRARY...

Libraries that do real work for us (REAL) are copied. Every other dependency (codecs and filters
we never call: x265, aom, flite, rsvg, ...) is replaced by a stub with the same soname that
defines the symbols the real objects import: functions that return 0 (libavcodec asks some of
them for versions and capabilities at start-up) and zeroed objects of the same size. The whole
bundle is then 38 MB instead of 200. Set BUNDLE_STUB_TRACE=1 to log each stub call.
glibc and libstdc++/libgcc_s come from the GPU machine's own system."""
import os, re, subprocess, sys, shutil
out = sys.argv[1]; roots = sys.argv[2:]
SYSTEM = re.compile(r'^(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64)\.so')
# The libraries that do real work for us; every other dependency becomes a stub.
REAL = re.compile(r'^(libav|libsw|libpostproc|libx264|libva|libdrm|libz\.|liblzma|libbz2|libgme|libopenmpt|libmfx|libzstd|libnuma)')
def needed(path):
    d = subprocess.run(['readelf', '-d', path], capture_output=True, text=True).stdout
    return re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', d)
def resolve(name):
    for d in ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu/blas', '/usr/lib/x86_64-linux-gnu/lapack']:
        p = os.path.join(d, name)
        if os.path.exists(p): return os.path.realpath(p)
    raise SystemExit(f'cannot find {name}')
real, stubs, queue = {}, {}, []
for r in roots:
    queue += needed(r)
while queue:
    n = queue.pop()
    if SYSTEM.match(n) or n in real or n in stubs: continue
    p = resolve(n)
    if not REAL.match(n): stubs[n] = p; continue
    real[n] = p; queue += needed(p)
os.makedirs(out, exist_ok=True)
for n, p in real.items(): shutil.copy(p, os.path.join(out, n))
# symbols every real object imports
imports = set()
for p in list(real.values()) + roots:
    o = subprocess.run(['nm', '-D', '--undefined-only', p], capture_output=True, text=True).stdout
    imports |= {l.split()[-1].split('@')[0] for l in o.splitlines() if l.strip()}
for n, p in stubs.items():
    o = subprocess.run(['readelf', '--dyn-syms', '-W', p], capture_output=True, text=True).stdout
    syms, vers = [], {}
    for l in o.splitlines():
        f = l.split()
        if len(f) < 8 or f[6] == 'UND' or f[4] not in ('GLOBAL', 'WEAK'): continue
        name = f[7]; ver = None
        if '@' in name:
            name, ver = name.split('@', 1)[0], name.split('@')[-1]
            if '@@' not in f[7]: continue  # non-default versions: skip
        if name not in imports: continue
        syms.append((name, f[3], int(f[2], 0) if f[2].startswith('0x') else int(f[2]), ver))
        if ver: vers.setdefault(ver, []).append(name)
    c = ['#include <stdlib.h>', '#include <stdio.h>']
    for name, typ, size, _ in syms:
        if typ == 'OBJECT': c.append(f'char {name}[{max(size,1)}] __attribute__((aligned(64)));')
        else: c.append(f'long {name}(void) {{ if (getenv("BUNDLE_STUB_TRACE")) fputs("bundle stub {n}:{name} called\\n", stderr); return 0; }}')
    src = f'/tmp/stub-{n}.c'; open(src, 'w').write('\n'.join(c) + '\n')
    cmd = ['gcc', '-shared', '-fPIC', '-w', '-fno-builtin', '-o', os.path.join(out, n), src, f'-Wl,-soname,{n}']
    if vers:
        vs = f'/tmp/stub-{n}.map'
        open(vs, 'w').write(''.join(f'{v} {{ global: {"; ".join(s)}; }};\n' for v, s in vers.items()))
        cmd.append(f'-Wl,--version-script={vs}')
    subprocess.run(cmd, check=True)
print(f'{len(real)} real, {len(stubs)} stubbed: {" ".join(sorted(stubs))}')
