// What crosses between JS and the copier: the config object parsed into a
// CopyConfig (types and consistency only: defaults and policy live in
// TypeScript, src/copy/options.ts), and the stats object built at the end.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "copier.h"

static bool ParseEndpoint(Napi::Env env, Napi::Value v, EndpointSpec *s) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  std::string kind = o.Get("kind").ToString().Utf8Value();
  s->name = o.Get("name").ToString().Utf8Value();
  if (kind == "nbd-uri") {
    s->kind = EndpointSpec::NBD_URI;
    s->uri = o.Get("uri").ToString().Utf8Value();
  } else if (kind == "nbd-systemd" || kind == "nbd-command") {
    s->kind = kind == "nbd-systemd" ? EndpointSpec::NBD_SYSTEMD : EndpointSpec::NBD_COMMAND;
    Napi::Value a = o.Get("argv");
    if (!a.IsArray() || a.As<Napi::Array>().Length() == 0) return false;
    Napi::Array arr = a.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) s->argv.push_back(arr.Get(i).ToString().Utf8Value());
  } else if (kind == "file") {
    s->kind = EndpointSpec::FILE;
    s->path = o.Get("path").ToString().Utf8Value();
  } else if (kind == "null") {
    s->kind = EndpointSpec::NULLDEV;
  } else {
    return false;
  }
  return true;
}

// The config object JS hands over (src/nbd/binding.ts), checked for types
// and consistency; false with a JS exception pending when it is not right.
bool ParseCopyConfig(const Napi::CallbackInfo &info, CopyConfig *cfg) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "Copier: expected a config object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  if (!ParseEndpoint(env, o.Get("source"), &cfg->src) || !ParseEndpoint(env, o.Get("target"), &cfg->dst)) {
    Napi::TypeError::New(env, "Copier: bad source or target").ThrowAsJavaScriptException();
    return false;
  }
  if (cfg->src.kind == EndpointSpec::NULLDEV) {
    Napi::TypeError::New(env, "Copier: null: can only be a target").ThrowAsJavaScriptException();
    return false;
  }
  uint32_t u;
  uint64_t u64;
  if (!GetU32(o.Get("connections"), "connections", &u)) return false;
  cfg->connections = std::max(1u, u);
  if (!GetU32(o.Get("requests"), "requests", &u)) return false;
  cfg->requests = std::max(1u, u);
  if (!GetU32(o.Get("requestSize"), "requestSize", &cfg->requestSize)) return false;
  Napi::Value maxReq = o.Get("maxRequestSize");
  if (!maxReq.IsUndefined() && !GetU32(maxReq, "maxRequestSize", &cfg->maxRequestSize)) return false;
  Napi::Value queue = o.Get("queueBytes");
  if (!queue.IsUndefined() && !GetU64(queue, "queueBytes", &cfg->queueBytes)) return false;
  Napi::Value bufBudget = o.Get("bufferBudget");
  if (!bufBudget.IsUndefined() && !GetU64(bufBudget, "bufferBudget", &cfg->bufferBudget)) return false;
  if (!GetU64(o.Get("rangeSize"), "rangeSize", &u64)) return false;
  cfg->rangeSize = u64;
  if (!GetU32(o.Get("sparse"), "sparse", &cfg->sparse)) return false;
  if (!GetU32(o.Get("retries"), "retries", &u)) return false;
  cfg->retries = u;
  if (!GetU32(o.Get("socketBuffer"), "socketBuffer", &u)) return false;
  cfg->socketBuffer = (int)u;
  cfg->targetIsZero = o.Get("targetIsZero").ToBoolean();
  cfg->allocated = o.Get("allocated").ToBoolean();
  cfg->extents = o.Get("extents").ToBoolean();
  cfg->flush = o.Get("flush").ToBoolean();
  Napi::Value rate = o.Get("rateLimit");
  if (!rate.IsUndefined() && !GetU64(rate, "rateLimit", &cfg->rateLimit)) return false;
  Napi::Value ranges = o.Get("ranges");
  if (!ranges.IsUndefined() && !ranges.IsNull()) {
    if (!ranges.IsArray()) {
      Napi::TypeError::New(env, "Copier: ranges must be an array").ThrowAsJavaScriptException();
      return false;
    }
    Napi::Array arr = ranges.As<Napi::Array>();
    cfg->hasRanges = true;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value r = arr.Get(i);
      ByteRange br;
      if (!r.IsObject()) {
        Napi::TypeError::New(env, "Copier: ranges[" + std::to_string(i) + "] must be {offset, length}")
            .ThrowAsJavaScriptException();
        return false;
      }
      if (!GetU64(r.As<Napi::Object>().Get("offset"), "ranges[].offset", &br.off) ||
          !GetU64(r.As<Napi::Object>().Get("length"), "ranges[].length", &br.len))
        return false;
      uint64_t prevEnd = cfg->ranges.empty() ? 0 : cfg->ranges.back().off + cfg->ranges.back().len;
      if (br.len == 0 || br.len > UINT64_MAX - br.off || br.off < prevEnd) {
        Napi::RangeError::New(env, "Copier: ranges[" + std::to_string(i) +
                                       "]: ranges must be non-empty, sorted and not overlapping")
            .ThrowAsJavaScriptException();
        return false;
      }
      cfg->ranges.push_back(br);
    }
  }
  if (cfg->requestSize < 512 || cfg->requestSize > (32u << 20) || cfg->rangeSize < cfg->requestSize ||
      cfg->rangeSize % cfg->requestSize != 0 || cfg->rangeSize > (2ull << 30) ||
      (cfg->sparse && cfg->requestSize % cfg->sparse != 0) || cfg->maxRequestSize > (32u << 20)) {
    Napi::RangeError::New(env, "Copier: inconsistent sizes").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// What the copy did, for JS: the promise's value.
Napi::Object Copier::Stats(Napi::Env env, double secs) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("size", Napi::Number::New(env, (double)size));
  r.Set("connections", Napi::Number::New(env, connsUsed_));
  r.Set("bytesData", Napi::Number::New(env, (double)bytesData.load()));
  r.Set("bytesZeroed", Napi::Number::New(env, (double)bytesZeroed.load()));
  r.Set("bytesSkipped", Napi::Number::New(env, (double)bytesSkipped.load()));
  r.Set("bytesRead", Napi::Number::New(env, (double)bytesRead.load()));
  r.Set("bytesTotal", Napi::Number::New(env, (double)total.load()));
  r.Set("retries", Napi::Number::New(env, (double)retriesUsed.load()));
  r.Set("extentFailures", Napi::Number::New(env, (double)extentFailures.load()));
  r.Set("targetWasZero", Napi::Boolean::New(env, dstZero));
  r.Set("sourceExtents", Napi::Boolean::New(env, srcExtents));
  r.Set("sparse", Napi::Number::New(env, cfg.sparse));
  Napi::Array sizes = Napi::Array::New(env, settledSizes.size());
  for (size_t i = 0; i < settledSizes.size(); i++) sizes.Set((uint32_t)i, Napi::Number::New(env, settledSizes[i]));
  r.Set("requestSizes", sizes);
  Napi::Array trials = Napi::Array::New(env, tunerTrials.size());
  for (size_t i = 0; i < tunerTrials.size(); i++) {
    Napi::Array t = Napi::Array::New(env, tunerTrials[i].size());
    for (size_t j = 0; j < tunerTrials[i].size(); j++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::Number::New(env, tunerTrials[i][j].size));
      pair.Set(1u, Napi::Number::New(env, std::round(tunerTrials[i][j].rate)));
      t.Set((uint32_t)j, pair);
    }
    trials.Set((uint32_t)i, t);
  }
  r.Set("requestSizeTrials", trials);
  r.Set("seconds", Napi::Number::New(env, secs));
  return r;
}
