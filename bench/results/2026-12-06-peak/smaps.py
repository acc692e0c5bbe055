# Sums the resident memory of a /proc/PID/smaps by kind of mapping: glibc's non-main arenas
# (anonymous rw mappings starting on a 64 MiB boundary, at most 64 MiB), the brk heap (main
# arena), Go's heap (0xc000000000...), thread stacks and other anonymous mappings by size,
# file-backed: python3 smaps.py FILE...
import re, sys
MiB = 1024
for path in sys.argv[1:]:
    sums, count = {}, {}
    cur = None
    def add(kind, rss):
        sums[kind] = sums.get(kind, 0) + rss
        count[kind] = count.get(kind, 0) + 1
    entries = []
    for line in open(path):
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)', line)
        if m:
            cur = {'start': int(m.group(1), 16), 'end': int(m.group(2), 16), 'perm': m.group(3), 'name': m.group(4).strip()}
            entries.append(cur)
        elif line.startswith('Rss:'):
            cur['rss'] = int(line.split()[1])
    for e in entries:
        size = (e['end'] - e['start']) // 1024
        rss = e.get('rss', 0)
        if e['name'].startswith('/'):
            add('file-backed', rss)
        elif e['name'] == '[heap]':
            add('brk heap (glibc main arena)', rss)
        elif e['name']:
            add(e['name'], rss)
        elif 0xc000000000 <= e['start'] < 0xc100000000:
            add('Go heap', rss)
        elif e['start'] % (64 << 20) == 0 and size <= 65536 and 'w' in e['perm']:
            add('glibc arenas (64 MiB-aligned)', rss)
        elif size >= 65536:
            add('anonymous >= 64 MiB', rss)
        elif size >= 8192:
            add('anonymous 8-64 MiB', rss)
        else:
            add('anonymous < 8 MiB', rss)
    total = sum(sums.values())
    print(f'{path}: {total/MiB:.0f} MiB resident')
    for k, v in sorted(sums.items(), key=lambda kv: -kv[1]):
        if v >= 1024:
            print(f'   {v/MiB:7.1f} MiB  {count[k]:4d} mappings  {k}')
