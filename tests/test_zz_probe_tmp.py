import time, pytest
@pytest.mark.parametrize("i", range(6))
def test_probe(ghl_sandbox_process, i):
    t=time.perf_counter(); c=ghl_sandbox_process.client(); t1=time.perf_counter()
    c.reset(); t2=time.perf_counter(); c.clear_journal(); t3=time.perf_counter(); c.location(0); t4=time.perf_counter()
    c.close(); t5=time.perf_counter()
    print(f"client {t1-t:.3f} reset {t2-t1:.3f} journal {t3-t2:.3f} loc {t4-t3:.3f} close {t5-t4:.3f}")
