#include "federation/kinds.h"

#include <type_traits>
#include <utility>
#include <variant>

namespace fedrelay::federation {
namespace {

template <typename Fn>
auto VisitTraits(const Submission& submission, Fn&& fn) {
  return std::visit(
      [&fn](const auto& request) {
        return fn(KindTraits<std::decay_t<decltype(request)>>(), request);
      },
      submission);
}

// Tries each alternative of Submission in turn.
template <size_t I = 0>
std::optional<Submission> FromProtoCase(const v1::Submission& in) {
  if constexpr (I == std::variant_size_v<Submission>) {
    return std::nullopt;
  } else {
    using Traits = KindTraits<std::variant_alternative_t<I, Submission>>;
    if (in.item_case() == Traits::kSubmissionCase) {
      return Submission(std::in_place_index<I>, Traits::FromSubmission(in));
    }
    return FromProtoCase<I + 1>(in);
  }
}

// The audience of the alternative whose LogEntry case is `request_case`.
template <size_t I = 0>
Audience AudienceOfCase(v1::LogEntry::RequestCase request_case) {
  if constexpr (I == std::variant_size_v<Submission>) {
    return Audience::kEverySubscriber;
  } else {
    using Traits = KindTraits<std::variant_alternative_t<I, Submission>>;
    if (request_case == Traits::kRequestCase) return Traits::kAudience;
    return AudienceOfCase<I + 1>(request_case);
  }
}

}  // namespace

absl::string_view KindName(const Submission& submission) {
  return VisitTraits(submission, [](auto traits, const auto&) { return decltype(traits)::kName; });
}

RateLimit RateLimitOf(const Submission& submission) {
  return VisitTraits(submission,
                     [](auto traits, const auto&) { return decltype(traits)::kRateLimit; });
}

std::string RateKey(const Submission& submission) {
  return VisitTraits(submission, [](auto traits, const auto& request) {
    return decltype(traits)::RateKey(request);
  });
}

std::vector<CappedText> CappedTexts(const Submission& submission) {
  return VisitTraits(submission, [](auto traits, const auto& request) {
    return decltype(traits)::CappedTexts(request);
  });
}

Audience AudienceOf(v1::LogEntry::RequestCase request_case) { return AudienceOfCase(request_case); }

std::optional<Submission> SubmissionFromProto(const v1::Submission& in) {
  return FromProtoCase(in);
}

}  // namespace fedrelay::federation
