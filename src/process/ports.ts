// A free TCP port on loopback, for servers that must listen on TCP (the
// conversion's view of the overlays). The port is free when we ask; the
// server then binds it, so a race with another process is possible but rare.
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
