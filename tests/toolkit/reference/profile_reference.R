# lme4 profile-likelihood confidence intervals for tests/toolkit/test_profile.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/profile_reference.R   # -> profile_reference.csv
#
# confint(profile(fit)) at the 95% level for every parameter: the standard deviations,
# correlations and residual standard deviation of the variance part, as lme4
# reports them with signames = FALSE, and the fixed effects. lme4 profiles the ML deviance
# (it refits a REML fit by ML) and interpolates its profile with splines, so its
# end points carry an interpolation error of the order of 1e-4 relative.
suppressPackageStartupMessages(library(lme4))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- lapply(c("hsb_intercept", "hsb_slope", "sleepstudy", "orthodont"), reference_model)

rows <- list()
for (m in models) {
  for (method in c("REML", "ML")) {
    fit <- lmer(m$formula, data = m$data, REML = method == "REML",
                control = lmerControl(optimizer = "bobyqa"))
    intervals <- confint(profile(fit, signames = FALSE), level = 0.95)
    rows[[length(rows) + 1]] <- data.frame(model = m$name, method = method,
                                           parameter = rownames(intervals),
                                           lower = intervals[, 1], upper = intervals[, 2])
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "profile_reference.csv"), row.names = FALSE)
print(out)
