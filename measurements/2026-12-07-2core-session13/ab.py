import json,statistics as st,sys
d=sys.argv[1]
res={}
for b in ['old','new']:
    for r in range(1,5):
        j=json.load(open(f'{d}/{b}_{r}.json'))
        t={x['run_name'].split('/real')[0]:x['real_time'] for x in j['benchmarks'] if x.get('aggregate_name')=='median'}
        for op in ['get','put']:
            for n in ['25000','1048576']:
                rw=t[f'{op}/rw/{n}']; tb=t[f'{op}/tbb/{n}']
                res.setdefault((op,n,b),[]).append((rw,tb,tb/rw))
for k,v in sorted(res.items()):
    rs=sorted(x[2] for x in v)
    print(k, 'rw %.1f tbb %.1f ratio med %.2f [%.2f-%.2f]'%(st.median(x[0] for x in v),st.median(x[1] for x in v),st.median(rs),rs[0],rs[-1]), ' rw per round', ['%.1f'%x[0] for x in v])
