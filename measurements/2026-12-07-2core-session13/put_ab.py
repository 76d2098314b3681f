import json,statistics as st,sys
d=sys.argv[1]
for b in sys.argv[2:]:
  rw=[];rt=[]
  for r in range(1,7):
    j=json.load(open(f'{d}/{b}_{r}.json'))
    t={x['run_name'].split('/real')[0]:x['real_time'] for x in j['benchmarks'] if x.get('aggregate_name')=='median'}
    rw.append(t['put/rw/25000']); rt.append(t['put/tbb/25000']/t['put/rw/25000'])
  print(b,'rw',['%.1f'%x for x in rw],'ratio',['%.2f'%x for x in rt],'med rw %.1f ratio %.2f'%(st.median(rw),st.median(rt)))
