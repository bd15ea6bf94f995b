// A free TCP port on the host's loopback, for servers that must listen on
// TCP there (tests: NBD and SSH sources). The port is free when we ask; the
// server then binds it, so a race with another process is possible but rare.
// The conversion does not use it: its proxies listen in a private network
// namespace, where any port is free (src/steps/convert/netns.ts).
import net from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
