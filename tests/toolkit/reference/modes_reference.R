# lme4's conditional modes of the random effects and their conditional standard deviations
# (ranef(fit, condVar = TRUE)) for tests/toolkit/test_modes_against_lme4.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/modes_reference.R   # -> modes_reference.csv
#
# One row per (model, method, group, term): the mode and the square root of the diagonal
# of lme4's conditional covariance ("postVar"), which treats the fixed effects as known.
suppressPackageStartupMessages(library(lme4))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- lapply(c("hsb_slope", "sleepstudy", "orthodont"), reference_model)
rows <- list()
for (m in models) {
  for (method in c("REML", "ML")) {
    fit <- lmer(m$formula, data = m$data, REML = method == "REML", control = lmerControl(optimizer = "bobyqa"))
    effects <- ranef(fit, condVar = TRUE)[[1]]
    variances <- attr(effects, "postVar")
    for (k in seq_len(ncol(effects))) {
      rows[[length(rows) + 1]] <- data.frame(model = m$name, method = method, group = rownames(effects),
                                             term = colnames(effects)[k], mode = effects[, k],
                                             sd = sqrt(variances[k, k, ]))
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "modes_reference.csv"), row.names = FALSE)
cat("wrote", nrow(out), "rows\n")
