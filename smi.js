const f = new Function("x", "return %IsSmi(x)"); console.log(f(-(2**30)), f(-(2**30)-1), f(2**31-1), f(-(2**31)));
