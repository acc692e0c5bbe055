# Reads sampled_NAME.rss (time, VmHWM, VmRSS every 0.2 s) and sampled_NAME.log (the daemon's
# log) and prints when the peak was reached, with the daemon's events and the VmRSS then.
import re, datetime, sys
for name in sys.argv[1:]:
    rows = [l.split() for l in open(f'sampled_{name}.rss') if 'VmRSS' in l]
    t = [float(r[0]) for r in rows]; hwm = [int(r[2]) / 1024 for r in rows]; rss = [int(r[4]) / 1024 for r in rows]
    t0 = t[0]
    i = next(k for k, h in enumerate(hwm) if h == hwm[-1])
    print(f'{name}: peak (VmHWM) {hwm[-1]:.0f} MiB, first seen at +{t[i]-t0:.1f} s (VmRSS then {rss[i]:.0f})')
    ev = []
    for l in open(f'sampled_{name}.log'):
        m = re.match(r'time=(\S+) level=\S+ msg="([^"]*)"(.*)', l)
        if m:
            ev.append((datetime.datetime.fromisoformat(m.group(1).replace('Z', '+00:00')).timestamp(), m.group(2), m.group(3)))
    for ts, msg, rest in ev:
        if any(k in msg for k in ['model ready', 'models ready', 'unloaded', 'loaded again', 'label pairs']):
            j = min(range(len(t)), key=lambda k: abs(t[k] - ts))
            model = re.search(r'model=(\S+)', rest)
            print(f'   +{ts-t0:5.1f} s  VmRSS {rss[j]:5.0f}  VmHWM {hwm[j]:5.0f}  {msg} {model.group(1) if model else ""}')
    # VmRSS every 5 s
    print('   VmRSS every 5 s:', ' '.join(f'{rss[k]:.0f}' for k in range(0, len(t), 25)))
