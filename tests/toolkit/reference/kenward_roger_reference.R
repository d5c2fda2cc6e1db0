# Kenward-Roger tests of fixed effects (pbkrtest, through lmerTest) for
# tests/toolkit/test_kenward_roger.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/kenward_roger_reference.R   # -> kenward_roger_reference.csv
#
# For each model, fitted by REML (Kenward-Roger is defined for REML fits only):
# summary(fit, ddf = "Kenward-Roger")'s t-tests of every fixed effect (kind = "t": estimate,
# the adjusted standard error, df, t, p), and one joint F-test of several coefficients with
# contest(fit, L, joint = TRUE, ddf = "Kenward-Roger") (kind = "F": F after pbkrtest's scaling,
# denominator df, p; the scaling factor in column "scaling").
suppressPackageStartupMessages(library(lmerTest))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- lapply(c("hsb_slope", "hsb_outcomes", "sleepstudy", "sleepstudy_uncorrelated", "orthodont_sex"),
                 function(name) c(reference_model(name), list(joint = joint_tests[[name]])))

rows <- list()
for (m in models) {
  fit <- lmer(m$formula, data = m$data, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
  table <- coef(summary(fit, ddf = "Kenward-Roger"))
  rows[[length(rows) + 1]] <- data.frame(model = m$name, kind = "t", term = rownames(table),
                                         estimate = table[, 1], se = table[, 2], df = table[, 3],
                                         statistic = table[, 4], p = table[, 5], scaling = NA)
  L <- matrix(0, nrow = length(m$joint), ncol = length(fixef(fit)), dimnames = list(NULL, names(fixef(fit))))
  for (k in seq_along(m$joint)) L[k, m$joint[k]] <- 1
  test <- pbkrtest::KRmodcomp(fit, L)$test
  rows[[length(rows) + 1]] <- data.frame(model = m$name, kind = "F", term = paste(m$joint, collapse = "+"),
                                         estimate = NA, se = NA, df = test["Ftest", "ddf"],
                                         statistic = test["Ftest", "stat"], p = test["Ftest", "p.value"],
                                         scaling = test["Ftest", "F.scaling"])
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "kenward_roger_reference.csv"), row.names = FALSE)
print(out, digits = 10)
