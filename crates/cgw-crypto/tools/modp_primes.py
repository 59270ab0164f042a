# Computes the RFC 2409 / RFC 3526 MODP primes from their defining formula
#   p = 2^n - 2^(n-64) - 1 + 2^64 * ( floor(2^(n-130) * pi) + k )
# and checks that each is a safe prime (p and (p-1)/2 prime).
import mpmath, sympy
groups = [(2,1024,129093),(5,1536,741804),(14,2048,124476),(15,3072,1690314),(16,4096,240904),(17,6144,929484),(18,8192,4743158)]
mpmath.mp.prec = 9000
for g,n,k in groups:
    t = int(mpmath.floor(mpmath.mpf(2)**(n-130) * mpmath.pi))
    p = 2**n - 2**(n-64) - 1 + 2**64 * (t + k)
    assert p.bit_length() == n
    ok = sympy.isprime(p) and sympy.isprime((p-1)//2)
    print(g, n, ok, hex(p)[2:18], hex(p)[-16:])
    assert ok
    open(f"/tmp/modp{g}.hex","w").write(hex(p)[2:].upper())
