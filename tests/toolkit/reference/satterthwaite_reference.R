# lmerTest's Satterthwaite degrees of freedom for tests/toolkit/test_small_sample.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/satterthwaite_reference.R   # -> satterthwaite_reference.csv
#
# For each model, fitted by REML and by ML: summary(fit)'s t-tests of every fixed effect
# (kind = "t": estimate, se, df, t, p), and one joint F-test of several coefficients with
# contest(fit, L, joint = TRUE) (kind = "F": the contrast's coefficients, F, numerator and
# denominator df, p).
suppressPackageStartupMessages(library(lmerTest))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- lapply(c("hsb_slope", "hsb_outcomes", "sleepstudy", "orthodont_sex"),
                 function(name) c(reference_model(name), list(joint = joint_tests[[name]])))

rows <- list()
for (m in models) {
  for (method in c("REML", "ML")) {
    fit <- lmer(m$formula, data = m$data, REML = method == "REML", control = lmerControl(optimizer = "bobyqa"))
    table <- coef(summary(fit, ddf = "Satterthwaite"))
    rows[[length(rows) + 1]] <- data.frame(model = m$name, method = method, kind = "t", term = rownames(table),
                                           estimate = table[, 1], se = table[, 2], df = table[, 3],
                                           statistic = table[, 4], p = table[, 5])
    L <- matrix(0, nrow = length(m$joint), ncol = length(fixef(fit)), dimnames = list(NULL, names(fixef(fit))))
    for (k in seq_along(m$joint)) L[k, m$joint[k]] <- 1
    test <- contest(fit, L, joint = TRUE, ddf = "Satterthwaite")
    rows[[length(rows) + 1]] <- data.frame(model = m$name, method = method, kind = "F",
                                           term = paste(m$joint, collapse = "+"), estimate = NA, se = NA,
                                           df = test[["DenDF"]], statistic = test[["F value"]],
                                           p = test[["Pr(>F)"]])
  }
}
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "satterthwaite_reference.csv"), row.names = FALSE)
print(out, digits = 10)
