#!/usr/bin/env python3
"""Extracts every PokeServer call of the network-policy-api v0.3.0 conformance tests as Rust
tuples for conformance/tests/upstream_pokes_cnp.rs (then run rustfmt on that file).

Usage: go mod download sigs.k8s.io/network-policy-api@v0.3.0
       conformance/scripts/upstream_pokes_cnp.py > /tmp/pokes.rs
"""
import re,os,sys
M = os.path.join(os.environ.get('GOMODCACHE', os.path.expanduser('~/go/pkg/mod')), 'sigs.k8s.io/network-policy-api@v0.3.0/conformance/tests')
HP=[34345+i for i in range(8)]
ev=re.compile(r'''ShortName:\s*"(?P<short>\w+)"|t\.Run\("(?P<run>[^"]+)"|(?P<var>\w+)\s*:?=\s*kubernetes\.GetPod\(t, s\.Client, "(?P<gns>[^"]+)", "(?P<gpod>[^"]+)"|kubernetes\.PokeServer\(t, s\.ClientSet, &s\.KubeConfig, "(?P<cns>[^"]+)", "(?P<cpod>[^"]+)", "(?P<proto>\w+)",\s*(?P<svar>\w+)\.Status\.PodIP, int32\((?P<port>[^)]+)\), s\.TimeoutConfig, (?P<ok>true|false)\)|(?P<label>kubernetes\.(SetPodLabel|RemovePodLabel|PatchNamespace)\()|(?P<cleanup>t\.Cleanup\(func)''', re.S)
out=[]
for f in sorted(os.listdir(M)):
    if f=='main.go': continue
    src=open(os.path.join(M,f)).read()
    short=None; run=None; phase=0; last_poke=False; vars={}; in_cleanup=False
    for m in ev.finditer(src):
        if m.group('short'): short=m.group('short')
        elif m.group('run'): run=m.group('run'); phase=0; last_poke=False
        elif m.group('var'): vars[m.group('var')]=m.group('gns')+'/'+m.group('gpod')
        elif m.group('cleanup'):
            in_cleanup=True
        elif m.group('label'):
            if in_cleanup: continue  # cleanup calls are at the top of the subtest body, executed at its end
            if last_poke: phase+=1; last_poke=False
        elif m.group('cns'):
            in_cleanup=False
            port=m.group('port')
            hm=re.match(r's\.HostNetworkPorts\[(\d)\]',port)
            port=HP[int(hm.group(1))] if hm else int(port)
            out.append((short,run,phase,m.group('cns')+'/'+m.group('cpod'),vars[m.group('svar')],m.group('proto'),port,m.group('ok')))
            last_poke=True
        # GetPod after cleanup block also ends it
        if m.group('var'): in_cleanup=False
print(len(out), file=sys.stderr)
print("const POKES: &[(&str, &str, usize, &str, &str, &str, u16, bool)] = &[")
for o in out:
    print('    (%s, %s, %d, "%s", "%s", "%s", %d, %s),'%('"'+o[0]+'"', '"'+o[1].replace('"','\\"')+'"', o[2], o[3], o[4], o[5], o[6], o[7]))
print("];")
