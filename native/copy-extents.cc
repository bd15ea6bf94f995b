// What a copy thread copies next: a piece of work from the shared counter,
// the source's extents over it (NBD block status, or SEEK_DATA/SEEK_HOLE
// on a file), merged, rounded out to the target's blocks, clipped to the
// ranges of a ranges copy, then cut into request-sized items.
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "copy-thread.h"

bool CopyThread::GetNbdExtents(uint64_t start, uint64_t end) {
  uint64_t pos = start;
  while (pos < end) {
    auto *w = new SyncWait;
    w->end = end;
    int64_t cookie = nbd_aio_block_status(src->h, end - pos, pos, nbd_extent_callback{ExtentCb, w, nullptr},
                                          nbd_completion_callback{SyncCb, w, SyncFree}, 0);
    if (cookie == -1) {
      Release(w);
      return false;
    }
    NbdFailure f;
    if (!WaitFor(c, src, w, "nbd_aio_block_status", &f)) {
      Release(w);
      return true;  // cancelled: the loop notices
    }
    uint64_t covered = pos;
    for (auto &e : w->extents) {
      if (e.off != covered) break;  // only trust a contiguous answer
      ext.push_back(e);
      covered = e.off + e.len;
    }
    Release(w);
    if (f.set() || covered == pos) return false;
    pos = covered;
  }
  return true;
}

void CopyThread::GetFileExtents(uint64_t start, uint64_t end) {
  uint64_t pos = start;
  while (pos < end) {
    off_t d = lseek(src->fd, (off_t)pos, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) ext.push_back({pos, end - pos, true});
      else ext.push_back({pos, end - pos, false});
      return;
    }
    if ((uint64_t)d > pos) ext.push_back({pos, std::min<uint64_t>(d, end) - pos, true});
    if ((uint64_t)d >= end) return;
    off_t h = lseek(src->fd, d, SEEK_HOLE);
    uint64_t he = h < 0 ? end : std::min<uint64_t>(h, end);
    ext.push_back({(uint64_t)d, he - d, false});
    pos = he;
  }
}

bool CopyThread::FetchRange() {
  uint64_t i = c->nextRange.fetch_add(1);
  if (i >= c->pieces.size()) {
    exhausted = true;
    return false;
  }
  const Copier::Piece &piece = c->pieces[i];
  uint64_t start = piece.start, end = piece.end;
  ext.clear();
  extIdx = 0;
  if (c->srcExtents) {
    if (src->isNbd()) {
      if (!GetNbdExtents(start, end)) {
        // Failure to get block status is not fatal: read everything.
        c->extentFailures++;
        ext.clear();
      }
      if (c->Cancelled()) return false;
      if (!ext.empty() && ext.back().off + ext.back().len < end) {
        uint64_t e = ext.back().off + ext.back().len;
        ext.push_back({e, end - e, false});
      }
    } else {
      GetFileExtents(start, end);
    }
  }
  if (ext.empty()) ext.push_back({start, end - start, false});
  // Merge neighbours of the same kind so zero runs become one request.
  std::vector<Extent> merged;
  for (auto &e : ext) {
    if (!merged.empty() && merged.back().zero == e.zero && merged.back().off + merged.back().len == e.off)
      merged.back().len += e.len;
    else
      merged.push_back(e);
  }
  ext.swap(merged);
  if (c->dstAlign > 1 && ext.size() > 1) AlignExtents(start, end);
  ClipToPiece(piece);
  if (!ext.empty()) extPos = ext[0].off;  // never empty: the runs lie in the piece
  return true;
}

// Keep only the parts of the piece's extents (which cover [start, end)) that
// lie in its runs: a ranges copy reads and writes nothing else.
void CopyThread::ClipToPiece(const Copier::Piece &p) {
  if (p.count == 1 && c->subs[p.first].off == p.start && c->subs[p.first].len == p.end - p.start) return;
  std::vector<Extent> out;
  size_t j = 0;
  for (size_t k = p.first; k < p.first + p.count; k++) {
    uint64_t rs = c->subs[k].off, re = rs + c->subs[k].len;
    while (j < ext.size() && ext[j].off + ext[j].len <= rs) j++;
    for (size_t m = j; m < ext.size() && ext[m].off < re; m++) {
      uint64_t s = std::max(rs, ext[m].off), t = std::min(re, ext[m].off + ext[m].len);
      if (t > s) out.push_back({s, t - s, ext[m].zero});
    }
  }
  ext.swap(out);
}

// The next request-sized piece of work; zero extents on a target known to
// be zero are counted as done on the way.
bool CopyThread::NextItem(uint64_t *off, uint64_t *len, bool *zero) {
  for (;;) {
    if (extIdx >= ext.size()) {
      if (exhausted || !FetchRange()) return false;
      continue;
    }
    Extent &e = ext[extIdx];
    uint64_t end = e.off + e.len;
    uint64_t remaining = end - extPos;
    if (e.zero && c->dstZero) {
      c->bytesSkipped += remaining;
      c->bytesDone += remaining;
      extIdx++;
      if (extIdx < ext.size()) extPos = ext[extIdx].off;
      continue;
    }
    uint64_t max = (e.zero && c->dstCanZero) ? remaining : tuner.Size();
    *off = extPos;
    *len = std::min(remaining, max);
    *zero = e.zero;
    extPos += *len;
    if (extPos >= end) {
      extIdx++;
      if (extIdx < ext.size()) extPos = ext[extIdx].off;
    }
    return true;
  }
}

// Round the data extents of [start, end) out to the target's blocks; what is
// left between them stays zero.
void CopyThread::AlignExtents(uint64_t start, uint64_t end) {
  const uint64_t a = c->dstAlign;
  std::vector<Extent> data, out;
  for (auto &e : ext) {
    if (e.zero) continue;
    uint64_t s = std::max(start, e.off / a * a);
    uint64_t t = std::min(end, (e.off + e.len + a - 1) / a * a);
    if (!data.empty() && data.back().off + data.back().len >= s)
      data.back().len = std::max(data.back().off + data.back().len, t) - data.back().off;
    else
      data.push_back({s, t - s, false});
  }
  uint64_t pos = start;
  for (auto &d : data) {
    if (d.off > pos) out.push_back({pos, d.off - pos, true});
    out.push_back(d);
    pos = d.off + d.len;
  }
  if (pos < end) out.push_back({pos, end - pos, true});
  ext.swap(out);
}
